package model

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func TestDerivedAddressWorkedExample(t *testing.T) {
	ip, err := Derive(netip.MustParsePrefix("198.18.0.0/16"), 3, 12, 8)
	if err != nil || ip.String() != "198.18.3.12" {
		t.Fatalf("got %v, %v; want 198.18.3.12", ip, err)
	}
	in := site()
	group(in, "workers").Spec.Nodes[0].ID = 12
	res := Resolve(in)
	clean(t, res)
	if got := res.Node("w4").Addresses["internal"]; got != "198.18.3.12" {
		t.Fatalf("w4 on internal: %s", got)
	}
}

func TestDeriveRefusesWhatDoesNotFit(t *testing.T) {
	p := netip.MustParsePrefix("198.18.0.0/24")
	cases := []struct {
		domain, id, bits int32
		want             error
		ip               string
	}{
		{0, 12, 8, nil, "198.18.0.12"},
		{0, 256, 8, ErrNodeIDTooLarge, "198.18.1.0"},
		{1, 1, 8, ErrDomainTooLarge, "198.18.1.1"},
		{0, 300, 10, ErrOutsideCIDR, "198.18.1.44"},
		{0, 255, 8, ErrBroadcast, "198.18.0.255"},
		{0, 0, 8, ErrNetworkAddress, "198.18.0.0"},
		{3, 9, 6, nil, "198.18.0.201"},
	}
	for _, c := range cases {
		ip, err := Derive(p, c.domain, c.id, c.bits)
		if !errors.Is(err, c.want) && !(err == nil && c.want == nil) || ip.String() != c.ip {
			t.Errorf("domain %d id %d bits %d: got %v, %v; want %s, %v", c.domain, c.id, c.bits, ip, err, c.ip, c.want)
		}
	}
}

// Every domain and id the rule accepts gives a distinct host address inside the network.
func TestDerivedAddressesAreDistinctHostsInside(t *testing.T) {
	p := netip.MustParsePrefix("198.18.0.0/20")
	seen := map[netip.Addr]bool{}
	for domain := int32(0); domain < 20; domain++ {
		for id := int32(1); id < 70; id++ {
			ip, err := Derive(p, domain, id, 6)
			if err != nil {
				if id < 64 && domain < 64 && !(domain == 63 && id == 63) {
					t.Fatalf("domain %d id %d: %v", domain, id, err)
				}
				continue
			}
			if !p.Contains(ip) || seen[ip] || special(p, ip) != "" {
				t.Fatalf("domain %d id %d: %s repeats, is special or is outside", domain, id, ip)
			}
			seen[ip] = true
		}
	}
}

func TestDerivedAddressOutsideCIDR(t *testing.T) {
	in := site()
	in.Cluster.Spec.Domain = 0
	in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24"
	in.Network.Spec.Networks[0].NodeIDBits = 10
	in.Network.Spec.Routers[0].Address = "198.18.0.254"
	group(in, "workers").Spec.Nodes[0].ID = 300
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonDerivedAddressOutsideNetwork},
		"the derived address of node w4 on network internal, 198.18.1.44 = base + domain 0 × 2^10 + id 300, is outside 198.18.0.0/24")
}

func TestDomainFitsTheNetwork(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24"
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindCluster, Name: "edge", Field: "spec.domain", Reason: ReasonDomainOutsideNetwork},
		"domain 3 puts the derived addresses of network internal at 198.18.3.0 and beyond, outside 198.18.0.0/24: use domain 0, the only one that fits, widen the network")
	if res.Counts.Addressed != 0 {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestNodeIDFitsNodeIDBits(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].ID = 256
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonNodeIDExceedsBits},
		"node id 256 does not fit the 8 node-id bits of network internal (the derived address 198.18.4.0", "an id from 1 to 255")
}

func TestDerivedAddressIsNotBroadcast(t *testing.T) {
	in := site()
	in.Cluster.Spec.Domain = 0
	in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24"
	in.Network.Spec.Routers[0].Address = "198.18.0.254"
	group(in, "workers").Spec.Nodes[0].ID = 255
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonDerivedAddressReserved},
		"198.18.0.255 = base + domain 0 × 2^8 + id 255, is the broadcast address of 198.18.0.0/24")
}

func TestDerivedAddressIsNotARouter(t *testing.T) {
	in := site()
	in.Network.Spec.Routers[0].Address = "198.18.3.4"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonAddressConflict},
		"the derived address of node w4 on network internal, 198.18.3.4, is the address of router gw")
}

func TestDerivedAddressIsNotAnExplicitOne(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.3.4"}}
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonAddressConflict},
		"198.18.3.4, is already the explicit address of node m1")
	if got := res.Node("m1").Addresses["internal"]; got != "198.18.3.4" {
		t.Errorf("m1's explicit address: %s", got)
	}
}

func TestExplicitAddressOverridesDerived(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "internal", IP: "198.18.200.7"}}
	res := Resolve(in)
	clean(t, res)
	if got := res.Node("w4").Addresses["internal"]; got != "198.18.200.7" {
		t.Fatalf("w4: %s", got)
	}
}

func TestExplicitAddressInsideItsNetwork(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "internal", IP: "198.19.0.7"}}
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[w4,internal].ip", Node: "w4", Reason: ReasonAddressOutsideNetwork},
		"198.19.0.7 is outside network internal (198.18.0.0/16)")
}

func TestExplicitAddressIsAHostAddress(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "internal", IP: "198.18.255.255"}}
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[w4,internal].ip", Node: "w4", Reason: ReasonAddressReserved},
		"198.18.255.255 is the broadcast address of network internal")
}

func TestExplicitAddressGivenOnce(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{
		{Node: "m1", Network: "internal", IP: "198.18.9.9"},
		{Node: "m2", Network: "internal", IP: "198.18.9.9"},
	}
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[m2,internal].ip", Node: "m2", Reason: ReasonAddressConflict},
		"198.18.9.9 is already the address of node m1")
}

func TestExplicitAddressIsNotARouter(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.0.1"}}
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[m1,internal].ip", Node: "m1", Reason: ReasonAddressConflict},
		"198.18.0.1 is the address of router gw")
}

func TestExplicitAddressNamesANodeOfTheCluster(t *testing.T) {
	in := site()
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "n9", Network: "internal", IP: "198.18.9.9"}}
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[n9,internal]", Node: "n9", Reason: ReasonUnknownNode},
		"node n9 is in no NodesGroup of Cluster edge")
}

func TestExplicitAddressOnANetworkOfTheNode(t *testing.T) {
	in := site()
	addNetwork(in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.19.0.0/24", Addressing: v1alpha1.AddressingStatic, Switches: []string{"shelf0/sw1"}})
	in.Machines[0].Spec.Shelves[0].Switches = append(in.Machines[0].Spec.Shelves[0].Switches, v1alpha1.Switch{Name: "sw1", Ports: 8})
	in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "storage", IP: "198.19.0.5"}}
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses[m1,storage]", Node: "m1", Reason: ReasonNodeNotOnNetwork},
		"node m1 is not on network storage: no NIC of board b0 on drawer shelf0/d1 is cabled to its switches")
}

func TestStaticNetworkNodeWithoutAddressIsMissing(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].Addressing = v1alpha1.AddressingStatic
	in.Network.Spec.Addresses = []v1alpha1.Address{
		{Node: "m1", Network: "internal", IP: "198.18.0.11"},
		{Node: "m2", Network: "internal", IP: "198.18.0.12"},
		{Node: "n3", Network: "internal", IP: "198.18.0.13"},
	}
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindNetwork, Name: "net", Field: "spec.addresses", Node: "w4", Reason: ReasonStaticAddressMissing},
		"node w4 has no address on Static network internal: add {node: w4, network: internal, ip: …} to spec.addresses")
	if res.Counts.Addressed != 3 {
		t.Errorf("counts %+v", res.Counts)
	}
}
