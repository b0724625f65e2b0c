package model

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func TestNetworkRefAbsentIsMissing(t *testing.T) {
	in := site()
	in.Cluster.Spec.NetworkRef = nil
	in.Network = nil
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindCluster, Name: "edge", Field: "spec.networkRef", Reason: ReasonNetworkRefMissing},
		"no Network yet: nodes cannot be addressed and deployable archives need one")
	if res.Counts.Placed != 4 || res.Counts.Addressed != 0 || res.Steps.Deployable {
		t.Errorf("counts %+v deployable %v", res.Counts, res.Steps.Deployable)
	}
	if len(res.Networks) != 0 || res.Node("m1").NICs[0].IP != "" {
		t.Errorf("a model without a Network has addresses: %+v", res.Node("m1"))
	}
}

func TestMachineRefAbsentIsMissing(t *testing.T) {
	in := site()
	in.Cluster.Spec.MachineRefs = nil
	in.Machines = nil
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindCluster, Name: "edge", Field: "spec.machineRefs", Reason: ReasonMachineRefMissing},
		"no Machine yet: nodes cannot be placed on drawers")
	if res.Counts.Placed != 0 || res.Counts.Total != 4 {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestReferencedObjectNotFoundIsMissing(t *testing.T) {
	in := site()
	in.Machines, in.Network = nil, nil
	res := Resolve(in)
	if len(res.Missing) != 2 {
		t.Fatalf("missing:\n%s", render(res.Missing))
	}
	only(t, "missing machine", res.Missing[:1], Problem{Kind: KindCluster, Name: "edge", Field: "spec.machineRefs[site]", Reason: ReasonMachineNotFound},
		"Machine site is not found: create it or correct spec.machineRefs")
	only(t, "missing network", res.Missing[1:], Problem{Kind: KindCluster, Name: "edge", Field: "spec.networkRef", Reason: ReasonNetworkNotFound},
		"Network net is not found: create it or correct spec.networkRef")
}

// TestReferencedObjectBeingDeletedStaysInTheModel: a Machine or Network being deleted still
// exists (the in-use finalizer holds it for the Cluster, which is what the finalizer is for),
// so the model keeps using it and stays complete: the deployables are not disturbed. A
// warning says it is going, what holds it, and what lets it go.
func TestReferencedObjectBeingDeletedStaysInTheModel(t *testing.T) {
	in := site()
	now := metav1.Now()
	in.Machines[0].DeletionTimestamp, in.Network.DeletionTimestamp = &now, &now
	in.Machines[0].Finalizers = []string{"flarecast.io/in-use"}
	in.Network.Finalizers = []string{"flarecast.io/in-use"}
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems, Missing: res.Missing})
	if !res.Steps.Deployable || res.Counts.Placed != 4 || res.Counts.Addressed != 4 {
		t.Fatalf("a Machine and Network held by their finalizer drop out of the model: deployable %v, counts %+v", res.Steps.Deployable, res.Counts)
	}
	if len(res.Warnings) != 2 {
		t.Fatalf("warnings:\n%s", render(res.Warnings))
	}
	only(t, "machine going", res.Warnings[:1], Problem{Kind: KindCluster, Name: "edge", Field: "spec.machineRefs[site]", Reason: ReasonMachineDeleting},
		"Machine site is being deleted, held by finalizer flarecast.io/in-use while Cluster edge references it", "remove it from spec.machineRefs")
	only(t, "network going", res.Warnings[1:], Problem{Kind: KindCluster, Name: "edge", Field: "spec.networkRef", Reason: ReasonNetworkDeleting},
		"Network net is being deleted, held by finalizer flarecast.io/in-use while Cluster edge references it", "point spec.networkRef at another Network")
}

func TestClusterWithoutGroupsIsMissingThem(t *testing.T) {
	in := site()
	in.Groups = nil
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindCluster, Name: "edge", Reason: ReasonNoNodesGroups},
		"no NodesGroup names this cluster yet: create one with spec.clusterRef.name: edge")
}

func TestGroupWithoutNodesIsMissingThem(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes = nil
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes", Reason: ReasonNoNodes},
		"the group has no nodes yet")
}

// A partial model (groups only) allows the generic archives and nothing more.
func TestPartialModelAllowsGenericArchivesOnly(t *testing.T) {
	in := Input{Cluster: site().Cluster, Groups: site().Groups}
	in.Cluster.Spec.MachineRefs, in.Cluster.Spec.NetworkRef = nil, nil
	for i := range in.Groups {
		for j := range in.Groups[i].Spec.Nodes {
			in.Groups[i].Spec.Nodes[j].Drawer = ""
		}
	}
	group(in, "workers").Spec.Role = v1alpha1.RoleMasterEligible
	res := Resolve(in)
	if res.Complete() || res.Valid() || res.Steps.Deployable {
		t.Fatalf("complete %v valid %v deployable %v", res.Complete(), res.Valid(), res.Steps.Deployable)
	}
	want := map[string]bool{"masters": true, "dataless": true, "workers": false}
	for g, ok := range want {
		if res.Steps.GenericArchive[g] != ok {
			t.Errorf("group %s: generic archive %v, want %v", g, res.Steps.GenericArchive[g], ok)
		}
	}
	if len(res.Missing) != 6 { // machine, network, four drawers
		t.Errorf("missing:\n%s", render(res.Missing))
	}
	if len(res.ProblemsFor(KindNodesGroup, "workers")) != 1 || len(res.MissingFor(KindNodesGroup, "masters")) != 2 {
		t.Errorf("per-object lists: %v / %v", res.ProblemsFor(KindNodesGroup, "workers"), res.MissingFor(KindNodesGroup, "masters"))
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[n3].drawer", Node: "n3", Message: "drawer shelf0/d3 has no NIC on network internal"}
	if got, want := p.String(), "NodesGroup/workers: spec.nodes[n3].drawer: drawer shelf0/d3 has no NIC on network internal"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	p.Field = ""
	if got, want := p.String(), "NodesGroup/workers: drawer shelf0/d3 has no NIC on network internal"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
