package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// networks finds the networks each placed node is on: through the NIC of its board cabled to
// one of the network's switches (the one named by the network's interface, if it names one).
func (r *resolver) networks() {
	if r.in.Network == nil {
		return
	}
	nw := r.in.Network.Name
	provSwitchless := false
	// on[i] holds the machine/shelf/switch keys network i runs on.
	on := make([]map[string]bool, len(r.nets))
	for i, net := range r.nets {
		on[i] = make(map[string]bool, len(net.Switches))
		if i == r.prov && len(net.Switches) == 0 {
			provSwitchless = true
			r.missingf(ReasonNoProvisioningSwitches, KindNetwork, nw, netPath(net.Name)+".switches", "", "network %s is the provisioning network but lists no switches, so no node is on it yet: list the switches (%s) its NICs are cabled to", net.Name, r.switchRef())
		}
		if len(r.machineRefs) == 0 {
			continue
		}
		for _, sw := range net.Switches {
			r.switchOf(net, sw, on[i])
		}
	}
	for _, n := range r.nodes {
		if n.board == nil {
			continue
		}
		for i, net := range r.nets {
			var cabled []int // indexes in n.out.NICs
			for k, key := range n.switches {
				if key != "" && on[i][key] {
					cabled = append(cabled, k)
				}
			}
			pick := -1
			if len(cabled) > 0 {
				pick = cabled[0]
				if net.iface != "" {
					pick = -1
					for _, k := range cabled {
						if n.out.NICs[k].Name == net.iface {
							pick = k
						}
					}
				}
			}
			field := nodePath(n.spec.Name, "drawer")
			switch {
			case pick >= 0:
				nic := &n.out.NICs[pick]
				nic.Networks = append(nic.Networks, net.Name)
				if nic.Network == "" {
					nic.Network = net.Name
				}
				n.networks = append(n.networks, i)
			case len(cabled) > 0:
				var names []string
				for _, k := range cabled {
					names = append(names, n.out.NICs[k].Name)
				}
				r.problem(ReasonInterfaceNotCabled, KindNodesGroup, n.group.Name, field, n.spec.Name, "network %s uses interface %s, but the NICs of board %s on drawer %s cabled to its switches are %s: rename the NIC in Machine %s or change the network's interface", net.Name, net.iface, n.board.Name, n.spec.Drawer, strings.Join(names, ", "), n.drawer.machine)
			case i == r.prov && !provSwitchless:
				r.problem(ReasonNoNICOnNetwork, KindNodesGroup, n.group.Name, field, n.spec.Name, "drawer %s has no NIC on network %s, the provisioning network every node boots on: cable a NIC of board %s to one of its switches (%s)", n.spec.Drawer, net.Name, n.board.Name, strings.Join(net.Switches, ", "))
			}
		}
	}
}

// switchOf checks one entry of a network's switches and adds its machine/shelf/switch key to on.
func (r *resolver) switchOf(net parsedNet, sw string, on map[string]bool) {
	nw, field := r.in.Network.Name, netPath(net.Name)+".switches"
	mname, local, ok := r.locate(sw)
	switch {
	case !ok:
		r.problem(ReasonSwitchNeedsMachine, KindNetwork, nw, field, "", "switch %s of network %s names no Machine, but Cluster %s runs on %d Machines (%s): write it as machine/shelf/switch, such as %s/%s", sw, net.Name, r.cluster, len(r.machineRefs), strings.Join(r.machineRefs, ", "), r.machineRefs[0], sw)
		return
	case !r.referenced(mname):
		r.problem(ReasonSwitchNotInMachine, KindNetwork, nw, field, "", "switch %s is on Machine %s, which is not a Machine of Cluster %s: list switches of its Machines (%s) as machine/shelf/switch", sw, mname, r.cluster, strings.Join(r.machineRefs, ", "))
		return
	}
	m, found := r.machines[mname]
	if !found {
		return // the Cluster says the Machine is missing
	}
	if _, ok := m.switches[local]; !ok {
		r.problem(ReasonSwitchNotInMachine, KindNetwork, nw, field, "", "switch %s is not in Machine %s: list switches of %s", sw, mname, r.switchForm())
		return
	}
	on[mname+"/"+local] = true
}

// switchForm says how a network names the switches of this cluster.
func (r *resolver) switchForm() string {
	if len(r.machineRefs) > 1 {
		return "the cluster's Machines as machine/shelf/switch"
	}
	return "the Machine as shelf/switch"
}

// switchRef is the form of a switch reference in this cluster.
func (r *resolver) switchRef() string {
	if len(r.machineRefs) > 1 {
		return "machine/shelf/switch"
	}
	return "shelf/switch"
}

// addresses gives each node its address on every network it is on: the explicit one, else the
// derived one on a Derived network; on a Static network a node without one is missing it.
func (r *resolver) addresses() {
	if r.in.Network == nil {
		return
	}
	nw := r.in.Network.Name
	byName := map[string]*nodeState{}
	for _, n := range r.nodes {
		byName[n.spec.Name] = n
	}
	type key struct{ node, network string }
	explicit := map[key]netip.Addr{}
	owner := map[netip.Addr]string{} // explicit address → node
	for _, a := range r.in.Network.Spec.Addresses {
		n, ok := byName[a.Node]
		if !ok {
			r.problem(ReasonUnknownNode, KindNetwork, nw, addrPath(a), a.Node, "node %s is in no NodesGroup of Cluster %s: remove the address, or add the node to a group", a.Node, r.cluster)
			continue
		}
		ip, err := netip.ParseAddr(a.IP)
		if err != nil {
			continue // ValidateNetwork reported it
		}
		explicit[key{a.Node, a.Network}] = ip
		if _, taken := owner[ip]; !taken {
			owner[ip] = a.Node
		}
		if n.board != nil && !n.onNetwork(r.nets, a.Network) {
			r.problem(ReasonNodeNotOnNetwork, KindNetwork, nw, addrPath(a), a.Node, "node %s is not on network %s: no NIC of board %s on drawer %s is cabled to its switches; remove the address or cable a NIC", a.Node, a.Network, n.board.Name, n.spec.Drawer)
		}
	}
	routers := map[netip.Addr]string{}
	for _, rt := range r.in.Network.Spec.Routers {
		if ip, err := netip.ParseAddr(rt.Address); err == nil {
			routers[ip] = rt.Name
		}
	}
	domainReported := map[string]bool{}
	for _, n := range r.nodes {
		if n.board == nil {
			continue
		}
		ok := len(n.networks) > 0
		for _, i := range n.networks {
			net := r.nets[i]
			ip, has := explicit[key{n.spec.Name, net.Name}]
			if !has {
				ip, has = r.derive(n, net, routers, owner, domainReported)
			}
			if !has {
				ok = false
				continue
			}
			n.out.Addresses[net.Name] = ip.String()
			for k := range n.out.NICs {
				if n.out.NICs[k].Network == net.Name {
					n.out.NICs[k].IP = ip.String()
				}
			}
		}
		n.addressed = ok
	}
}

// onNetwork reports whether the node is on the named network.
func (n *nodeState) onNetwork(nets []parsedNet, name string) bool {
	for _, i := range n.networks {
		if nets[i].Name == name {
			return true
		}
	}
	return false
}

// derive computes a node's address on a network that gave it none explicitly.
func (r *resolver) derive(n *nodeState, net parsedNet, routers map[netip.Addr]string, owner map[netip.Addr]string, domainReported map[string]bool) (netip.Addr, bool) {
	nw := r.in.Network.Name
	g := n.group.Name
	if net.Addressing == v1alpha1.AddressingStatic {
		r.missingf(ReasonStaticAddressMissing, KindNetwork, nw, "spec.addresses", n.spec.Name, "node %s has no address on Static network %s: add {node: %s, network: %s, ip: …} to spec.addresses", n.spec.Name, net.Name, n.spec.Name, net.Name)
		return netip.Addr{}, false
	}
	if !net.ok || r.in.Cluster == nil {
		return netip.Addr{}, false // ValidateNetwork reported the CIDR
	}
	domain := r.in.Cluster.Spec.Domain
	field := nodePath(n.spec.Name, "id")
	ip, err := Derive(net.prefix, domain, n.spec.ID, net.NodeIDBits)
	shown := "beyond 255.255.255.255"
	if ip.IsValid() {
		shown = ip.String()
	}
	formula := fmt.Sprintf("base + domain %d × 2^%d + id %d", domain, net.NodeIDBits, n.spec.ID)
	switch {
	case errors.Is(err, ErrNodeIDTooLarge):
		r.problem(ReasonNodeIDExceedsBits, KindNodesGroup, g, field, n.spec.Name, "node id %d does not fit the %d node-id bits of network %s (the derived address %s = %s would belong to another domain): give node %s an id from 1 to %d, raise the network's nodeIdBits, or give the node an explicit address", n.spec.ID, net.NodeIDBits, net.Name, shown, formula, n.spec.Name, uint64(1)<<net.NodeIDBits-1)
	case errors.Is(err, ErrDomainTooLarge):
		if !domainReported[net.Name] {
			domainReported[net.Name] = true
			base, _ := Derive(net.prefix, domain, 0, net.NodeIDBits)
			at := "beyond 255.255.255.255"
			if base.IsValid() {
				at = base.String()
			}
			fit := "use domain 0, the only one that fits"
			if n := domains(net.prefix, net.NodeIDBits); n > 1 {
				fit = fmt.Sprintf("choose a domain from 0 to %d", n-1)
			}
			r.problem(ReasonDomainOutsideNetwork, KindCluster, r.cluster, "spec.domain", "", "domain %d puts the derived addresses of network %s at %s and beyond, outside %s: %s, widen the network, or lower its nodeIdBits (%d)", domain, net.Name, at, net.CIDR, fit, net.NodeIDBits)
		}
	case errors.Is(err, ErrOutsideCIDR):
		r.problem(ReasonDerivedAddressOutsideNetwork, KindNodesGroup, g, field, n.spec.Name, "the derived address of node %s on network %s, %s = %s, is outside %s: give the node a smaller id, lower the network's nodeIdBits, or give the node an explicit address", n.spec.Name, net.Name, shown, formula, net.CIDR)
	case errors.Is(err, ErrNetworkAddress), errors.Is(err, ErrBroadcast):
		kind := "network"
		if errors.Is(err, ErrBroadcast) {
			kind = "broadcast"
		}
		r.problem(ReasonDerivedAddressReserved, KindNodesGroup, g, field, n.spec.Name, "the derived address of node %s on network %s, %s = %s, is the %s address of %s: give the node another id or an explicit address", n.spec.Name, net.Name, shown, formula, kind, net.CIDR)
	case err != nil:
		r.problem(ReasonAddressNotDerivable, KindNodesGroup, g, field, n.spec.Name, "no address can be derived for node %s on network %s: %v", n.spec.Name, net.Name, err)
	default:
		if rt, clash := routers[ip]; clash {
			r.problem(ReasonAddressConflict, KindNodesGroup, g, field, n.spec.Name, "the derived address of node %s on network %s, %s, is the address of router %s: give the node another id or an explicit address, or move the router", n.spec.Name, net.Name, ip, rt)
			return netip.Addr{}, false
		}
		if o, clash := owner[ip]; clash && o != n.spec.Name {
			r.problem(ReasonAddressConflict, KindNodesGroup, g, field, n.spec.Name, "the derived address of node %s on network %s, %s, is already the explicit address of node %s: give one of them another address", n.spec.Name, net.Name, ip, o)
			return netip.Addr{}, false
		}
		return ip, true
	}
	return netip.Addr{}, false
}
