package model

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// racks is the test site split over two Machines, one per rack, that use the same names
// inside: each has shelf0 with switch sw0 and drawers d1 and d2 on ports 1 and 2. Only the
// Machine tells rack1/shelf0/d1 from rack2/shelf0/d1.
func racks() Input {
	in := site()
	rack := func(name string, macBase int) *v1alpha1.Machine {
		m := in.Machines[0].DeepCopy()
		m.Name = name
		sh := &m.Spec.Shelves[0]
		sh.Drawers = sh.Drawers[:2]
		for i := range sh.Drawers {
			sh.Drawers[i].Boards[0].NICs[0].MAC = fmt.Sprintf("02:00:00:00:00:%02x", macBase+i)
		}
		return m
	}
	in.Machines = []*v1alpha1.Machine{rack("rack2", 0x11), rack("rack1", 0x01)} // any order
	in.Cluster.Spec.MachineRefs = []v1alpha1.LocalObjectReference{{Name: "rack1"}, {Name: "rack2"}}
	in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0"}
	drawers := map[string]string{"m1": "rack1/shelf0/d1", "m2": "rack2/shelf0/d1", "n3": "rack1/shelf0/d2", "w4": "rack2/shelf0/d2"}
	for i := range in.Groups {
		for j := range in.Groups[i].Spec.Nodes {
			n := &in.Groups[i].Spec.Nodes[j]
			n.Drawer = drawers[n.Name]
		}
	}
	return in
}

func rackDrawer(in Input, machine, name string) *v1alpha1.Drawer {
	for _, m := range in.Machines {
		if m.Name != machine {
			continue
		}
		for i := range m.Spec.Shelves[0].Drawers {
			if d := &m.Spec.Shelves[0].Drawers[i]; d.Name == name {
				return d
			}
		}
	}
	panic("no drawer " + machine + "/" + name)
}

func TestClusterOverSeveralMachinesPlacesEachNodeOnItsMachine(t *testing.T) {
	res := Resolve(racks())
	clean(t, res)
	if !res.Steps.Deployable || res.Counts.Placed != 4 || res.Counts.Addressed != 4 {
		t.Fatalf("deployable %v counts %+v", res.Steps.Deployable, res.Counts)
	}
	m2 := res.Node("m2")
	if m2.Machine != "rack2" || m2.Shelf != "shelf0" || m2.Drawer != "d1" || m2.NICs[0].MAC != "02:00:00:00:00:11" || m2.NICs[0].Switch != "shelf0/sw0" || m2.Addresses["internal"] != "198.18.3.2" {
		t.Fatalf("m2 %+v", m2)
	}
	if m1 := res.Node("m1"); m1.Machine != "rack1" || m1.NICs[0].MAC != "02:00:00:00:00:01" {
		t.Fatalf("m1 %+v", m1)
	}
}

func TestOneMachineTakesTheShortAndTheLongDrawerForm(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].Drawer = "site/shelf0/d4"
	res := Resolve(in)
	clean(t, res)
	if w4 := res.Node("w4"); w4.Machine != "site" || w4.Drawer != "d4" {
		t.Fatalf("w4 %+v", w4)
	}
	// The two forms of one drawer are one drawer.
	group(in, "workers").Spec.Nodes[0].Drawer = "site/shelf0/d3"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerInUse},
		"drawer site/shelf0/d3 already runs node n3 of NodesGroup dataless")
}

func TestDrawerRunsOneNodeAcrossTheMachines(t *testing.T) {
	in := racks()
	group(in, "workers").Spec.Nodes[0].Drawer = "rack2/shelf0/d1"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerInUse},
		"drawer rack2/shelf0/d1 already runs node m2 of NodesGroup masters")
}

func TestDrawerNamesItsMachineWhenTheClusterHasSeveral(t *testing.T) {
	in := racks()
	group(in, "workers").Spec.Nodes[0].Drawer = "shelf0/d2"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerNeedsMachine},
		"drawer shelf0/d2 names no Machine, but Cluster edge runs on 2 Machines (rack1, rack2): write it as machine/shelf/drawer, such as rack1/shelf0/d2")
	group(in, "workers").Spec.Nodes[0].Drawer = "rack9/shelf0/d2"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonMachineNotReferenced},
		"Machine rack9 of drawer rack9/shelf0/d2 is not a Machine of Cluster edge", "add rack9 to the Cluster's spec.machineRefs")
	group(in, "workers").Spec.Nodes[0].Drawer = "rack2/shelf0/d7"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerNotFound},
		"drawer rack2/shelf0/d7 is not in Machine rack2")
}

func TestMACOnceAcrossTheMachinesOfACluster(t *testing.T) {
	in := racks()
	rackDrawer(in, "rack2", "d2").Boards[0].NICs[0].MAC = "02:00:00:00:00:01" // m1's, in rack1
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindMachine, Name: "rack2", Field: "spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].mac", Reason: ReasonDuplicateMAC},
		"MAC 02:00:00:00:00:01 is already the MAC of NIC eth0 of drawer shelf0/d1 board b0 of Machine rack1, which Cluster edge also runs on: give each NIC its own MAC")
	// Each Machine on its own holds together: the rule is the cluster's, and ValidateMachines
	// (what the Machine reconciler shows on each Machine) gives it too.
	for _, m := range in.Machines {
		if ps := ValidateMachine(m); len(ps) != 0 {
			t.Errorf("Machine %s alone: %v", m.Name, ps)
		}
	}
	if got := ValidateMachines("edge", in.Machines); len(got) != 1 || got[0] != res.Problems[0] {
		t.Errorf("ValidateMachines: %v, want %v", got, res.Problems)
	}
}

func TestANodeIsOnANetworkOnlyThroughTheSwitchesOfItsOwnMachine(t *testing.T) {
	in := racks()
	// rack2 has a shelf0/sw0 too, but the network runs only on rack1's.
	in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0"}
	res := Resolve(in)
	if len(res.Problems) != 2 {
		t.Fatalf("problems:\n%s", render(res.Problems))
	}
	only(t, "m2", res.ProblemsFor(KindNodesGroup, "masters"), Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m2].drawer", Node: "m2", Reason: ReasonNoNICOnNetwork},
		"has no NIC on network internal", "(rack1/shelf0/sw0)")
	only(t, "w4", res.ProblemsFor(KindNodesGroup, "workers"), Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonNoNICOnNetwork},
		"has no NIC on network internal")
}

func TestNetworkSwitchesNameTheirMachineWhenTheClusterHasSeveral(t *testing.T) {
	in := racks()
	in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0", "shelf0/sw0"}
	only(t, "short", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].switches", Reason: ReasonSwitchNeedsMachine},
		"switch shelf0/sw0 of network internal names no Machine, but Cluster edge runs on 2 Machines (rack1, rack2): write it as machine/shelf/switch, such as rack1/shelf0/sw0")
	in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0", "rack9/shelf0/sw0"}
	only(t, "other machine", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].switches", Reason: ReasonSwitchNotInMachine},
		"switch rack9/shelf0/sw0 is on Machine rack9, which is not a Machine of Cluster edge")
	in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0", "rack2/shelf0/sw5"}
	only(t, "absent switch", Resolve(in).Problems, Problem{Kind: KindNetwork, Name: "net", Field: "spec.networks[internal].switches", Reason: ReasonSwitchNotInMachine},
		"switch rack2/shelf0/sw5 is not in Machine rack2: list switches of the cluster's Machines as machine/shelf/switch")
}

func TestAMissingMachineLeavesTheOthersPlacing(t *testing.T) {
	in := racks()
	in.Machines = in.Machines[1:] // rack1 only
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindCluster, Name: "edge", Field: "spec.machineRefs[rack2]", Reason: ReasonMachineNotFound},
		"Machine rack2 is not found: create it or correct spec.machineRefs")
	if res.Counts.Placed != 2 || res.Node("m1").Machine != "rack1" || res.Node("m2").Placed() {
		t.Fatalf("counts %+v", res.Counts)
	}
}

func TestAMachineBeingDeletedAmongSeveralStaysInTheModel(t *testing.T) {
	in := racks()
	now := metav1.Now()
	in.Machines[0].DeletionTimestamp = &now
	in.Machines[0].Finalizers = []string{"flarecast.io/in-use"}
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems, Missing: res.Missing})
	only(t, "warning", res.Warnings, Problem{Kind: KindCluster, Name: "edge", Field: "spec.machineRefs[rack2]", Reason: ReasonMachineDeleting},
		"Machine rack2 is being deleted, held by finalizer flarecast.io/in-use")
	if !res.Steps.Deployable {
		t.Fatal("the cluster is no longer deployable")
	}
}
