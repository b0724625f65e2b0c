package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Addressing says how the nodes of a network get their IPv4 address.
// +kubebuilder:validation:Enum=Derived;Static
type Addressing string

const (
	// AddressingDerived gives a node without an explicit address
	// base(cidr) + domain × 2^nodeIdBits + nodeId (see docs/model.md).
	AddressingDerived Addressing = "Derived"
	// AddressingStatic gives only the addresses listed in spec.addresses.
	AddressingStatic Addressing = "Static"
)

// NetworkSpec is the seed's network model: IP networks, routers and addresses.
// +kubebuilder:validation:XValidation:rule=`!has(self.addresses) || self.addresses.all(a, self.networks.exists(n, n.name == a.network))`,message=`addresses[].network: an address names a network spec.networks does not have: name one of its networks`,messageExpression=`self.addresses.filter(a, !self.networks.exists(n, n.name == a.network)).map(a, 'addresses[%s,%s].network: network %s is not in spec.networks: name one of its networks'.format([a.node, a.network, a.network]))[0]`
// +kubebuilder:validation:XValidation:rule=`!has(self.addresses) || self.addresses.all(a, !isIP(a.ip) || self.networks.all(n, n.name != a.network || !isCIDR(n.cidr) || cidr(n.cidr).containsIP(a.ip)))`,message=`addresses[].ip: an address is outside the CIDR of its network: give the node an address inside it`,messageExpression=`self.addresses.filter(a, isIP(a.ip) && self.networks.exists(n, n.name == a.network && isCIDR(n.cidr) && !cidr(n.cidr).containsIP(a.ip))).map(a, 'addresses[%s,%s].ip: %s is outside network %s (%s): give node %s an address inside it'.format([a.node, a.network, a.ip, a.network, self.networks.filter(n, n.name == a.network)[0].cidr, a.node]))[0]`
// +kubebuilder:validation:XValidation:rule=`!has(self.addresses) || self.addresses.all(a, self.addresses.exists_one(b, b.ip == a.ip))`,message=`addresses[].ip: an address is given twice: give each node its own address`,messageExpression=`self.addresses.map(x, self.addresses.filter(y, y.ip == x.ip)).filter(l, l.size() > 1).map(l, 'addresses[%s,%s].ip: %s is already the address of node %s: give each node its own address'.format([l[1].node, l[1].network, l[1].ip, l[0].node]))[0]`
// +kubebuilder:validation:XValidation:rule=`self.networks.all(n, !has(n.router) || (has(self.routers) && self.routers.exists(r, r.name == n.router)))`,message=`networks[].router: a network names a router spec.routers does not have: add it or name one of the routers`,messageExpression=`self.networks.filter(n, has(n.router) && !(has(self.routers) && self.routers.exists(r, r.name == n.router))).map(n, 'networks[%s].router: router %s is not in spec.routers: add it or name one of the routers'.format([n.name, n.router]))[0]`
// +kubebuilder:validation:XValidation:rule=`self.networks.all(n, !has(n.router) || !has(self.routers) || !isCIDR(n.cidr) || self.routers.all(r, r.name != n.router || !isIP(r.address) || cidr(n.cidr).containsIP(r.address)))`,message=`networks[].router: the router's address is outside the network's CIDR: choose a router inside it`,messageExpression=`self.networks.filter(n, has(n.router) && isCIDR(n.cidr) && self.routers.exists(r, r.name == n.router && isIP(r.address) && !cidr(n.cidr).containsIP(r.address))).map(n, 'networks[%s].router: router %s (%s) is outside the network\'s %s: choose a router inside it'.format([n.name, n.router, self.routers.filter(r, r.name == n.router)[0].address, n.cidr]))[0]`
type NetworkSpec struct {
	// networks are the site's IPv4 networks.
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Networks []IPNetwork `json:"networks,omitempty"`
	// routers are the gateways the networks name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Routers []Router `json:"routers,omitempty"`
	// addresses gives nodes explicit addresses; on a Derived network they override the rule.
	// +listType=map
	// +listMapKey=node
	// +listMapKey=network
	// +kubebuilder:validation:MaxItems=512
	// +optional
	Addresses []Address `json:"addresses,omitempty"`
}

// IPNetwork is one IPv4 network of the site.
// +kubebuilder:validation:XValidation:rule=`isCIDR(self.cidr) && cidr(self.cidr).ip().family() == 4 && cidr(self.cidr) == cidr(self.cidr).masked()`,message=`cidr: must be an IPv4 network address with its prefix length, host bits zero: write it like 198.18.0.0/16`,messageExpression=`!isCIDR(self.cidr) ? 'cidr: %s is not an address with a prefix length: write it like 198.18.0.0/16'.format([self.cidr]) : cidr(self.cidr).ip().family() != 4 ? 'cidr: %s is not IPv4, and nodes are addressed over IPv4: write it like 198.18.0.0/16'.format([self.cidr]) : 'cidr: %s has host bits set: write its network address, %s'.format([self.cidr, string(cidr(self.cidr).masked())])`
type IPNetwork struct {
	// name of the network, unique in the Network.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// cidr is the network address with its prefix length (198.18.0.0/16).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=18
	CIDR string `json:"cidr,omitempty"`
	// vlan is the network's 802.1Q VLAN id, when it shares switches with others.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	// +optional
	VLAN *int32 `json:"vlan,omitempty"`
	// router names the gateway of the network, a router of spec.routers.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Router string `json:"router,omitempty"`
	// switches are the switches (machine/shelf/switch, or shelf/switch for a cluster on one
	// Machine) this network runs on: a node is on the network through the NIC of its board
	// that is cabled to one of them.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	Switches []string `json:"switches,omitempty"`
	// interface picks the NIC by name when a board has several NICs cabled to the
	// network's switches (VLANs on one switch); absent, the first such NIC by name is used.
	// +kubebuilder:validation:Pattern=`^[a-z][-_.a-z0-9]*$`
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Interface string `json:"interface,omitempty"`
	// addressing says how the nodes get their address on the network: Derived or Static.
	// +kubebuilder:default=Derived
	// +optional
	Addressing Addressing `json:"addressing,omitempty"`
	// nodeIdBits is how many low bits of a derived address hold the node id; the domain
	// takes the bits above them.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=16
	// +kubebuilder:default=8
	// +optional
	NodeIDBits int32 `json:"nodeIdBits,omitempty"`
	// provisioning marks the network the install server boots the nodes on.
	// +optional
	Provisioning bool `json:"provisioning,omitempty"`
}

// Router is a gateway.
// +kubebuilder:validation:XValidation:rule=`isIP(self.address) && ip(self.address).family() == 4`,message=`address: must be an IPv4 address: write it like 198.18.0.1`,messageExpression=`'address: %s is not an IPv4 address: write it like 198.18.0.1'.format([self.address])`
type Router struct {
	// name of the router, unique in the Network.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// address is the router's IPv4 address.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	Address string `json:"address,omitempty"`
}

// Address is an explicit address of a node on a network.
// +kubebuilder:validation:XValidation:rule=`isIP(self.ip) && ip(self.ip).family() == 4`,message=`ip: must be an IPv4 address: write it like 198.18.0.10`,messageExpression=`'ip: %s is not an IPv4 address: write it like 198.18.0.10'.format([self.ip])`
type Address struct {
	// node is the name of a node of a NodesGroup.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`
	// network names a network of spec.networks.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Network string `json:"network,omitempty"`
	// ip is the node's IPv4 address on that network.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	IP string `json:"ip,omitempty"`
}

// NetworkStatus says whether the network model holds together and who uses it.
type NetworkStatus struct {
	// conditions are Valid (its own rules and the problems its Clusters find on it) and InUse.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// usedBy lists the Clusters that reference this Network.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	UsedBy []string `json:"usedBy,omitempty"`
}

// Network is the IP addressing of a site: networks, routers, addresses.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fcnet,categories=flarecast
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Used-By",type=string,JSONPath=`.status.usedBy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Network struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the addressing.
	// +optional
	Spec NetworkSpec `json:"spec,omitempty"`
	// status says whether it holds together and who uses it.
	// +optional
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkList is a list of Networks.
// +kubebuilder:object:root=true
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Networks.
	Items []Network `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Network{}, &NetworkList{})
}
