package model

import (
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func networkOnly(t *testing.T, in Input, want Problem, substrings ...string) {
	t.Helper()
	only(t, "ValidateNetwork", ValidateNetwork(in.Network), want, substrings...)
	only(t, "Resolve", Resolve(in).Problems, want, substrings...)
}

func addNetwork(in Input, n v1alpha1.IPNetwork) {
	in.Network.Spec.Networks = append(in.Network.Spec.Networks, n)
}

func TestNetworksDoNotOverlap(t *testing.T) {
	in := site()
	addNetwork(in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.18.64.0/18"})
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[storage].cidr", Reason: ReasonNetworksOverlap},
		"198.18.64.0/18 overlaps network internal (198.18.0.0/16)")
}

func TestCIDRIsANetworkAddress(t *testing.T) {
	in := site()
	addNetwork(in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.19.0.1/24"})
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[storage].cidr", Reason: ReasonInvalidCIDR},
		`"198.19.0.1/24" is not an IPv4 network address with host bits zero`)
}

func TestOneProvisioningNetwork(t *testing.T) {
	in := site()
	addNetwork(in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.19.0.0/16", Provisioning: true, Switches: []string{"shelf0/sw0"}})
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[storage].provisioning", Reason: ReasonMultipleProvisioningNetworks},
		"networks internal and storage are both marked provisioning")
}

func TestRouterInsideItsNetwork(t *testing.T) {
	in := site()
	in.Network.Spec.Routers[0].Address = "198.19.0.1"
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].router", Reason: ReasonRouterOutsideNetwork},
		"router gw (198.19.0.1) is outside the network's 198.18.0.0/16")
}

func TestRouterExists(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].Router = "gw2"
	networkOnly(t, in, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].router", Reason: ReasonUnknownRouter},
		"router gw2 is not in spec.routers")
}

func TestNetworkSwitchExistsInMachine(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].Switches = append(in.Network.Spec.Networks[0].Switches, "shelf1/sw0")
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].switches", Reason: ReasonSwitchNotInMachine},
		"switch shelf1/sw0 is not in Machine site")
}

func TestPlacedNodeHasNICOnProvisioningNetwork(t *testing.T) {
	in := site()
	drawerOf(in, "d3").Boards[0].NICs[0].Link = nil
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindNodesGroup, Name: "dataless", Field: "spec.nodes[n3].drawer", Node: "n3", Reason: ReasonNoNICOnNetwork},
		"drawer shelf0/d3 has no NIC on network internal, the provisioning network every node boots on", "(shelf0/sw0)")
	if res.Counts.Addressed != 3 {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestFirstNetworkProvisionsWhenNoneIsMarked(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].Provisioning = false
	in.Network.Spec.Networks = append([]v1alpha1.IPNetwork{{Name: "boot", CIDR: "198.19.0.0/16", Switches: []string{"shelf0/sw9"}}}, in.Network.Spec.Networks...)
	in.Machines[0].Spec.Shelves[0].Switches = append(in.Machines[0].Spec.Shelves[0].Switches, v1alpha1.Switch{Name: "sw9", Ports: 8})
	res := Resolve(in)
	if res.ProvisioningNetwork != "boot" {
		t.Fatalf("provisioning network %q", res.ProvisioningNetwork)
	}
	if len(res.Problems) != 4 {
		t.Fatalf("want each node without a NIC on boot:\n%s", render(res.Problems))
	}
	only(t, "problems", res.Problems[:1], Problem{Kind: KindNodesGroup, Name: "dataless", Field: "spec.nodes[n3].drawer", Node: "n3", Reason: ReasonNoNICOnNetwork},
		"drawer shelf0/d3 has no NIC on network boot")
}

func TestProvisioningNetworkWithoutSwitchesIsMissing(t *testing.T) {
	in := site()
	in.Network.Spec.Networks[0].Switches = nil
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].switches", Reason: ReasonNoProvisioningSwitches},
		"network internal is the provisioning network but lists no switches")
}

func TestNetworkInterfacePicksTheNIC(t *testing.T) {
	in := site()
	b := &drawerOf(in, "d1").Boards[0]
	b.NICs = append(b.NICs, v1alpha1.NIC{Name: "eth1", MAC: "02:00:00:00:01:01", Link: &v1alpha1.PortLink{Switch: "sw0", Port: 11}})
	in.Network.Spec.Networks[0].Interface = "eth1"
	res := Resolve(in)
	m1 := res.Node("m1")
	if m1.NICOn("internal") == nil || m1.NICOn("internal").Name != "eth1" || m1.NICOn("internal").IP != "198.18.3.1" {
		t.Errorf("NICs %+v", m1.NICs)
	}
	// the other drawers have no eth1 on the network's switches
	if len(res.Problems) != 3 {
		t.Fatalf("want one problem per node without eth1:\n%s", render(res.Problems))
	}
	only(t, "problems", res.Problems[:1], Problem{Kind: KindNodesGroup, Name: "dataless", Field: "spec.nodes[n3].drawer", Node: "n3", Reason: ReasonInterfaceNotCabled},
		"network internal uses interface eth1, but the NICs of board b0 on drawer shelf0/d3 cabled to its switches are eth0")
}
