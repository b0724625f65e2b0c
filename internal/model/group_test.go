package model

import (
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func TestDisklessNodeIsNeverMasterEligible(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Role = v1alpha1.RoleMasterEligible
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.role", Reason: ReasonMasterEligibleNotDiskfull},
		"a Diskless group cannot be MasterEligible", "set role: NonMasterEligible")
	if res.Steps.GenericArchive["workers"] || !res.Steps.GenericArchive["masters"] {
		t.Errorf("generic archive steps %v", res.Steps.GenericArchive)
	}
	if res.Counts.MasterEligible != 2 {
		t.Errorf("a diskless node counted as master-eligible: %d", res.Counts.MasterEligible)
	}
}

func TestMasterEligibleNodeIsDiskfullNotDataless(t *testing.T) {
	in := site()
	group(in, "dataless").Spec.Role = v1alpha1.RoleMasterEligible
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "dataless", Field: "spec.role", Reason: ReasonMasterEligibleNotDiskfull},
		"a Dataless group cannot be MasterEligible", "non-master-eligible diskfull node")
}

func TestDisklessGroupHasNoRequiredFilesystems(t *testing.T) {
	in := site()
	group(in, "workers").Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/data"}}
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.requiredFilesystems", Reason: ReasonFilesystemsOnDiskless},
		"a Diskless group has no local disk")
}

func TestRequiredFilesystemMinSizeParses(t *testing.T) {
	g := site().Groups[0]
	g.Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/var", MinSize: "lots"}}
	only(t, "problems", ValidateGroup(&g), Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.requiredFilesystems[/var].minSize", Reason: ReasonInvalidSize},
		`"lots" is not a quantity`)
}

func TestNodeIDUniqueInGroup(t *testing.T) {
	in := site()
	group(in, "masters").Spec.Nodes[1].ID = 1
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m2].id", Node: "m2", Reason: ReasonDuplicateNodeID},
		"node id 1 is already the id of node m1 of NodesGroup masters")
}

func TestNodeIDUniqueAcrossCluster(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].ID = 3
	// dataless sorts before workers: the workers' node is the duplicate
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].id", Node: "w4", Reason: ReasonDuplicateNodeID},
		"node id 3 is already the id of node n3 of NodesGroup dataless", "give each node of the cluster its own id")
}

func TestNodeNameUniqueAcrossCluster(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].Name = "m1"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[m1].name", Node: "m1", Reason: ReasonDuplicateNodeName},
		"node name m1 is already used by NodesGroup masters", "unique in Cluster edge")
}

func TestNodeListedTwiceInGroup(t *testing.T) {
	g := site().Groups[0]
	g.Spec.Nodes = append(g.Spec.Nodes, v1alpha1.Node{Name: "m1", ID: 9})
	only(t, "problems", ValidateGroup(&g), Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m1].name", Node: "m1", Reason: ReasonDuplicateNodeName},
		"node m1 is listed twice in the group")
}

func TestTwoMasterEligibleNodesRequired(t *testing.T) {
	in := site()
	g := group(in, "masters")
	g.Spec.Nodes = g.Spec.Nodes[:1]
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindCluster, Name: "edge", Reason: ReasonNotEnoughMasterEligibleNodes},
		"the cluster has 1 master-eligible node (m1), but needs 2 for a master and a vice-master", "spec.masterEligiblePolicy: Warn")
	if res.Valid() || res.Counts.MasterEligible != 1 {
		t.Errorf("valid %v, master-eligible %d", res.Valid(), res.Counts.MasterEligible)
	}
}

func TestMasterEligiblePolicyWarnKeepsValid(t *testing.T) {
	in := site()
	in.Cluster.Spec.MasterEligiblePolicy = v1alpha1.MasterEligibleWarn
	group(in, "masters").Spec.Role = v1alpha1.RoleNonMasterEligible
	res := Resolve(in)
	only(t, "warnings", res.Warnings, Problem{Kind: KindCluster, Name: "edge", Reason: ReasonNotEnoughMasterEligibleNodes}, "the cluster has no master-eligible node")
	if !res.Valid() || !res.Steps.Deployable {
		t.Errorf("a warning made the model invalid: %s", render(res.Problems))
	}
}

func TestServiceMustBeFoundationService(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Services = []string{"rbs"}
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.services[rbs]", Reason: ReasonUnknownService},
		"service rbs is not a foundation service of Cluster edge")
}
