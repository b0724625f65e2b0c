package model

import (
	"fmt"
	"net/netip"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// parsedNet is a network of the Network with its prefix parsed and defaults applied.
type parsedNet struct {
	Net
	prefix netip.Prefix
	ok     bool // the CIDR parsed
	iface  string
}

func netPath(name string) string { return fmt.Sprintf("spec.networks[%s]", name) }
func addrPath(a v1alpha1.Address) string {
	return fmt.Sprintf("spec.addresses[%s,%s]", a.Node, a.Network)
}

func parseNets(n *v1alpha1.Network) []parsedNet {
	routers := map[string]string{}
	for _, r := range n.Spec.Routers {
		routers[r.Name] = r.Address
	}
	var out []parsedNet
	for _, s := range n.Spec.Networks {
		p := parsedNet{Net: Net{
			Name: s.Name, CIDR: s.CIDR, Router: routers[s.Router], Addressing: s.Addressing,
			NodeIDBits: s.NodeIDBits, Provisioning: s.Provisioning,
			Switches: append([]string(nil), s.Switches...),
		}, iface: s.Interface}
		if s.VLAN != nil {
			p.VLAN = *s.VLAN
		}
		if p.Addressing == "" {
			p.Addressing = v1alpha1.AddressingDerived
		}
		if p.NodeIDBits == 0 {
			p.NodeIDBits = DefaultNodeIDBits
		}
		prefix, err := netip.ParsePrefix(s.CIDR)
		p.ok = err == nil && prefix.Addr().Is4() && prefix == prefix.Masked()
		p.prefix = prefix
		out = append(out, p)
	}
	return out
}

// provisioning returns the index of the network the nodes boot on: the one marked, else the
// first; -1 without networks.
func provisioning(nets []parsedNet) int {
	for i, n := range nets {
		if n.Provisioning {
			return i
		}
	}
	if len(nets) == 0 {
		return -1
	}
	return 0
}

// ValidateNetwork checks the rules inside one Network: CIDRs parse and do not overlap, routers
// exist and sit inside their network, explicit addresses are inside their network, not its
// network or broadcast address, not a router's, and given once, and one network at most is
// marked provisioning.
func ValidateNetwork(n *v1alpha1.Network) []Problem {
	if n == nil {
		return nil
	}
	ps := &problems{kind: KindNetwork, name: n.Name}
	nets := parseNets(n)
	byName := map[string]*parsedNet{}
	var marked string
	for i := range nets {
		cur := &nets[i]
		byName[cur.Name] = cur
		if cur.Provisioning {
			if marked != "" {
				ps.add(ReasonMultipleProvisioningNetworks, netPath(cur.Name)+".provisioning", "", "networks %s and %s are both marked provisioning: mark only the network the nodes boot on", marked, cur.Name)
			} else {
				marked = cur.Name
			}
		}
		if !cur.ok {
			ps.add(ReasonInvalidCIDR, netPath(cur.Name)+".cidr", "", "%q is not an IPv4 network address with host bits zero: write it like 198.18.0.0/16", cur.CIDR)
			continue
		}
		for _, prev := range nets[:i] {
			if prev.ok && prev.prefix.Overlaps(cur.prefix) {
				ps.add(ReasonNetworksOverlap, netPath(cur.Name)+".cidr", "", "%s overlaps network %s (%s): give each network its own address range", cur.CIDR, prev.Name, prev.CIDR)
				break
			}
		}
	}
	routerIPs := validateRouters(ps, n, byName)
	seen := map[netip.Addr]string{}
	for _, a := range n.Spec.Addresses {
		path := addrPath(a) + ".ip"
		net, ok := byName[a.Network]
		if !ok {
			ps.add(ReasonUnknownNetwork, addrPath(a)+".network", a.Node, "network %s is not in spec.networks: name one of its networks", a.Network)
			continue
		}
		ip, err := netip.ParseAddr(a.IP)
		if err != nil || !ip.Is4() {
			ps.add(ReasonInvalidAddress, path, a.Node, "%q is not an IPv4 address: write it like 198.18.0.10", a.IP)
			continue
		}
		if o, dup := seen[ip]; dup {
			ps.add(ReasonAddressConflict, path, a.Node, "%s is already the address of node %s: give each node its own address", a.IP, o)
		} else {
			seen[ip] = a.Node
		}
		if r, dup := routerIPs[ip]; dup {
			ps.add(ReasonAddressConflict, path, a.Node, "%s is the address of router %s: give node %s another address", a.IP, r, a.Node)
		}
		if !net.ok {
			continue
		}
		if !net.prefix.Contains(ip) {
			ps.add(ReasonAddressOutsideNetwork, path, a.Node, "%s is outside network %s (%s): give node %s an address inside it", a.IP, a.Network, net.CIDR, a.Node)
		} else if kind := special(net.prefix, ip); kind != "" {
			ps.add(ReasonAddressReserved, path, a.Node, "%s is the %s address of network %s (%s): give node %s a host address", a.IP, kind, a.Network, net.CIDR, a.Node)
		}
	}
	sortProblems(ps.list)
	return ps.list
}

func validateRouters(ps *problems, n *v1alpha1.Network, byName map[string]*parsedNet) map[netip.Addr]string {
	routers := map[string]netip.Addr{}
	ips := map[netip.Addr]string{}
	for _, r := range n.Spec.Routers {
		ip, err := netip.ParseAddr(r.Address)
		if err != nil || !ip.Is4() {
			ps.add(ReasonInvalidAddress, fmt.Sprintf("spec.routers[%s].address", r.Name), "", "%q is not an IPv4 address: write it like 198.18.0.1", r.Address)
			continue
		}
		routers[r.Name] = ip
		ips[ip] = r.Name
	}
	for _, s := range n.Spec.Networks {
		if s.Router == "" {
			continue
		}
		ip, ok := routers[s.Router]
		if !ok {
			if !hasRouter(n, s.Router) {
				ps.add(ReasonUnknownRouter, netPath(s.Name)+".router", "", "router %s is not in spec.routers: add it or name one of the routers", s.Router)
			}
			continue
		}
		net := byName[s.Name]
		if !net.ok {
			continue
		}
		if !net.prefix.Contains(ip) {
			ps.add(ReasonRouterOutsideNetwork, netPath(s.Name)+".router", "", "router %s (%s) is outside the network's %s: choose a router inside it", s.Router, ip, s.CIDR)
		} else if kind := special(net.prefix, ip); kind != "" {
			ps.add(ReasonRouterAddressReserved, netPath(s.Name)+".router", "", "router %s (%s) is the %s address of %s: give the router a host address", s.Router, ip, kind, s.CIDR)
		}
	}
	return ips
}

func hasRouter(n *v1alpha1.Network, name string) bool {
	for _, r := range n.Spec.Routers {
		if r.Name == name {
			return true
		}
	}
	return false
}
