package model

import (
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func TestNodeWithoutDrawerIsMissing(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].Drawer = ""
	res := Resolve(in)
	clean(t, &Result{Problems: res.Problems})
	only(t, "missing", res.Missing, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonNodeNotPlaced},
		"node w4 is not placed on a drawer yet: set drawer to shelf/drawer of Machine site")
	if res.Counts.Placed != 3 || res.Counts.Addressed != 3 || res.Steps.Deployable {
		t.Errorf("counts %+v deployable %v", res.Counts, res.Steps.Deployable)
	}
}

func TestDrawerMustExistInMachine(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].Drawer = "shelf0/d9"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerNotFound},
		"drawer shelf0/d9 is not in Machine site")
	group(in, "workers").Spec.Nodes[0].Drawer = "shelf7/d1"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerNotFound},
		"shelf shelf7 is not in Machine site", "(shelf0)")
}

func TestDrawerRunsOneNodeAcrossGroups(t *testing.T) {
	in := site()
	group(in, "workers").Spec.Nodes[0].Drawer = "shelf0/d3"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonDrawerInUse},
		"drawer shelf0/d3 already runs node n3 of NodesGroup dataless")
}

func TestDrawerRunsOneNodeInGroup(t *testing.T) {
	in := site()
	group(in, "masters").Spec.Nodes[1].Drawer = "shelf0/d1"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m2].drawer", Node: "m2", Reason: ReasonDrawerInUse},
		"drawer shelf0/d1 already runs node m1 of NodesGroup masters")
}

func TestDrawerNeedsABoard(t *testing.T) {
	in := site()
	drawerOf(in, "d4").Boards = nil
	res := Resolve(in)
	only(t, "problems", res.Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonNoBoardOnDrawer},
		"drawer shelf0/d4 has no board to run node w4")
	if res.Counts.Placed != 4 || res.Counts.Addressed != 3 {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestGroupArchMatchesBoardArch(t *testing.T) {
	in := site()
	drawerOf(in, "d4").Boards[0].Arch = "arm64"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "workers", Field: "spec.nodes[w4].drawer", Node: "w4", Reason: ReasonArchMismatch},
		"drawer shelf0/d4 holds an arm64 board (b0), but the group's arch is amd64")
}

func TestDiskfullNodeNeedsRootSlice(t *testing.T) {
	in := site()
	drawerOf(in, "d2").Disks[0].Slices[0].Filesystem.MountPoint = "/srv"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m2].drawer", Node: "m2", Reason: ReasonNoRootFilesystem},
		"drawer shelf0/d2 has no slice mounted at /, yet a Diskfull node boots from its own disk")
}

// A group that lists / among its required file systems gets the missing root once.
func TestMissingRootIsReportedOnceWhenRequired(t *testing.T) {
	in := site()
	group(in, "masters").Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/"}}
	drawerOf(in, "d2").Disks[0].Slices[0].Filesystem.MountPoint = "/srv"
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.nodes[m2].drawer", Node: "m2", Reason: ReasonNoRootFilesystem},
		"drawer shelf0/d2 has no slice mounted at /")
}

func TestDatalessNodeNeedsADisk(t *testing.T) {
	in := site()
	drawerOf(in, "d3").Disks = nil
	only(t, "problems", Resolve(in).Problems, Problem{Kind: KindNodesGroup, Name: "dataless", Field: "spec.nodes[n3].drawer", Node: "n3", Reason: ReasonNoRootFilesystem},
		"drawer shelf0/d3 has no slice mounted at /, yet a Dataless node boots from its own disk")
}

func TestRequiredFilesystemExists(t *testing.T) {
	in := site()
	group(in, "masters").Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/data"}}
	res := Resolve(in)
	if len(res.Problems) != 2 {
		t.Fatalf("want one problem per master node:\n%s", render(res.Problems))
	}
	only(t, "problems", res.Problems[:1], Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.requiredFilesystems[/data]", Node: "m1", Reason: ReasonFilesystemMissing},
		"node m1: drawer shelf0/d1 has no file system mounted at /data")
}

func TestRequiredFilesystemLargeEnough(t *testing.T) {
	in := site()
	// /var takes the rest of 100Gi after 40Gi and 8Gi: 52Gi
	group(in, "masters").Spec.RequiredFilesystems[0].MinSize = "60Gi"
	res := Resolve(in)
	if len(res.Problems) != 2 {
		t.Fatalf("want one problem per master node:\n%s", render(res.Problems))
	}
	only(t, "problems", res.Problems[1:], Problem{Kind: KindNodesGroup, Name: "masters", Field: "spec.requiredFilesystems[/var]", Node: "m2", Reason: ReasonFilesystemTooSmall},
		"node m2: /var on drawer shelf0/d2 is 52Gi, less than the 60Gi required")
}
