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
// +kubebuilder:validation:XValidation:rule="!has(self.addresses) || self.addresses.all(a, self.networks.exists(n, n.name == a.network))",message="addresses[].network: must name a network of spec.networks"
// +kubebuilder:validation:XValidation:rule="!has(self.addresses) || self.addresses.all(a, !isIP(a.ip) || self.networks.all(n, n.name != a.network || !isCIDR(n.cidr) || cidr(n.cidr).containsIP(a.ip)))",message="addresses[].ip: an address is outside the CIDR of its network"
// +kubebuilder:validation:XValidation:rule="!has(self.addresses) || self.addresses.all(a, self.addresses.exists_one(b, b.ip == a.ip))",message="addresses[].ip: an address is given twice"
// +kubebuilder:validation:XValidation:rule="self.networks.all(n, !has(n.router) || (has(self.routers) && self.routers.exists(r, r.name == n.router)))",message="networks[].router: must name a router of spec.routers"
// +kubebuilder:validation:XValidation:rule="self.networks.all(n, !has(n.router) || !has(self.routers) || !isCIDR(n.cidr) || self.routers.all(r, r.name != n.router || !isIP(r.address) || cidr(n.cidr).containsIP(r.address)))",message="networks[].router: the router's address is outside the network's CIDR"
type NetworkSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Networks []IPNetwork `json:"networks"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Routers []Router `json:"routers,omitempty"`
	// Addresses gives nodes explicit addresses; on a Derived network they override the rule.
	// +listType=map
	// +listMapKey=node
	// +listMapKey=network
	// +kubebuilder:validation:MaxItems=512
	// +optional
	Addresses []Address `json:"addresses,omitempty"`
}

// IPNetwork is one IPv4 network of the site.
// +kubebuilder:validation:XValidation:rule="isCIDR(self.cidr) && cidr(self.cidr).ip().family() == 4 && cidr(self.cidr) == cidr(self.cidr).masked()",message="cidr: must be an IPv4 network address with its prefix length (198.18.0.0/16), host bits zero"
type IPNetwork struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=18
	CIDR string `json:"cidr"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4094
	// +optional
	VLAN *int32 `json:"vlan,omitempty"`
	// Router names the gateway of the network.
	// +optional
	Router string `json:"router,omitempty"`
	// Switches are the switches (machine/shelf/switch, or shelf/switch for a cluster on one
	// Machine) this network runs on: a node is on the network through the NIC of its board
	// that is cabled to one of them.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:Pattern=`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	Switches []string `json:"switches,omitempty"`
	// Interface picks the NIC by name when a board has several NICs cabled to the
	// network's switches (VLANs on one switch); absent, the first such NIC by name is used.
	// +kubebuilder:validation:Pattern=`^[a-z][-_.a-z0-9]*$`
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Interface string `json:"interface,omitempty"`
	// +kubebuilder:default=Derived
	// +optional
	Addressing Addressing `json:"addressing,omitempty"`
	// NodeIDBits is how many low bits of a derived address hold the node id; the domain
	// takes the bits above them.
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=16
	// +kubebuilder:default=8
	// +optional
	NodeIDBits int32 `json:"nodeIdBits,omitempty"`
	// Provisioning marks the network the install server boots the nodes on.
	// +optional
	Provisioning bool `json:"provisioning,omitempty"`
}

// Router is a gateway.
// +kubebuilder:validation:XValidation:rule="isIP(self.address) && ip(self.address).family() == 4",message="address: must be an IPv4 address"
type Router struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=15
	Address string `json:"address"`
}

// Address is an explicit address of a node on a network.
// +kubebuilder:validation:XValidation:rule="isIP(self.ip) && ip(self.ip).family() == 4",message="ip: must be an IPv4 address"
type Address struct {
	// Node is the name of a node of a NodesGroup.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node"`
	// +kubebuilder:validation:MaxLength=63
	Network string `json:"network"`
	// +kubebuilder:validation:MaxLength=15
	IP string `json:"ip"`
}

// NetworkStatus says whether the network model holds together and who uses it.
type NetworkStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// UsedBy lists the Clusters that reference this Network.
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
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NetworkSpec   `json:"spec,omitempty"`
	Status NetworkStatus `json:"status,omitempty"`
}

// NetworkList is a list of Networks.
// +kubebuilder:object:root=true
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Network `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Network{}, &NetworkList{})
}
