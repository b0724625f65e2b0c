package model

import (
	"fmt"
	"sort"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func nodePath(name, field string) string { return fmt.Sprintf("spec.nodes[%s].%s", name, field) }

// ValidateGroup checks the rules inside one NodesGroup: the seed's role rules (diskless and
// dataless nodes are never master-eligible, so master-eligible nodes are diskfull), node
// names, ids and drawers used once in the group, and required file systems that a group can
// have at all. The rules that span groups are Resolve's.
func ValidateGroup(g *v1alpha1.NodesGroup) []Problem {
	if g == nil {
		return nil
	}
	ps := &problems{kind: KindNodesGroup, name: g.Name}
	if g.Spec.Role == v1alpha1.RoleMasterEligible {
		switch g.Spec.NodeType {
		case v1alpha1.NodeTypeDiskless:
			ps.add(ReasonMasterEligibleNotDiskfull, "spec.role", "", "a Diskless group cannot be MasterEligible, since diskless nodes are never master-eligible: set role: NonMasterEligible, or nodeType: Diskfull if its nodes have a disk")
		case v1alpha1.NodeTypeDataless:
			ps.add(ReasonMasterEligibleNotDiskfull, "spec.role", "", "a Dataless group cannot be MasterEligible, since a dataless node is a non-master-eligible diskfull node: set role: NonMasterEligible, or nodeType: Diskfull")
		}
	}
	if g.Spec.NodeType == v1alpha1.NodeTypeDiskless && len(g.Spec.RequiredFilesystems) > 0 {
		ps.add(ReasonFilesystemsOnDiskless, "spec.requiredFilesystems", "", "a Diskless group has no local disk to hold file systems: remove requiredFilesystems, or make the group Diskfull or Dataless")
	}
	validateDiskless(ps, g)
	for _, fs := range g.Spec.RequiredFilesystems {
		if fs.MinSize == "" {
			continue
		}
		if _, err := bytesOf(fs.MinSize); err != nil {
			ps.add(ReasonInvalidSize, fmt.Sprintf("spec.requiredFilesystems[%s].minSize", fs.MountPoint), "", "%v: write a size as a quantity such as 20Gi", err)
		}
	}
	names := map[string]bool{}
	ids := map[int32]string{}
	drawers := map[string]string{}
	for _, n := range sortedNodes(g) {
		if names[n.Name] {
			ps.add(ReasonDuplicateNodeName, nodePath(n.Name, "name"), n.Name, "node %s is listed twice in the group: keep one entry per node", n.Name)
			continue
		}
		names[n.Name] = true
		if n.ID < 1 {
			ps.add(ReasonNodeIDOutOfRange, nodePath(n.Name, "id"), n.Name, "node %s has id %d, but node ids start at 1: give it an id from 1 to 65534", n.Name, n.ID)
		}
		if o, dup := ids[n.ID]; dup {
			ps.add(ReasonDuplicateNodeID, nodePath(n.Name, "id"), n.Name, "node id %d is already the id of node %s of NodesGroup %s: give each node of the cluster its own id", n.ID, o, g.Name)
		} else {
			ids[n.ID] = n.Name
		}
		if n.Drawer == "" {
			continue
		}
		if o, dup := drawers[n.Drawer]; dup {
			ps.add(ReasonDrawerInUse, nodePath(n.Name, "drawer"), n.Name, "drawer %s already runs node %s of NodesGroup %s: put each node on its own drawer", n.Drawer, o, g.Name)
		} else {
			drawers[n.Drawer] = n.Name
		}
	}
	sortProblems(ps.list)
	return ps.list
}

// sortedNodes returns the group's nodes sorted by name, a copy.
func sortedNodes(g *v1alpha1.NodesGroup) []v1alpha1.Node {
	nodes := append([]v1alpha1.Node(nil), g.Spec.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes
}

// validateDiskless checks spec.diskless and spec.sharedData, the rules CEL also enforces at
// admission (so an offline check of the model finds them too).
func validateDiskless(ps *problems, g *v1alpha1.NodesGroup) {
	if d := g.Spec.Diskless; d != nil {
		if g.Spec.NodeType != v1alpha1.NodeTypeDiskless {
			ps.add(ReasonDisklessSpecOnOtherType, "spec.diskless", "", "only a Diskless group chooses a network root and where its writes go: remove diskless, or set nodeType: Diskless")
		} else if d.Root == v1alpha1.DisklessRootRAM && d.Writes == v1alpha1.DisklessWritesPersistent {
			ps.add(ReasonPersistentWritesNeedNFSRoot, "spec.diskless.writes", "", "a RAM root lives in the node's memory and has no export to keep writes in: set writes: Tmpfs, or root: NFS for writes that persist")
		}
	}
	if len(g.Spec.SharedData) > 0 && g.Spec.NodeType == v1alpha1.NodeTypeDiskfull {
		ps.add(ReasonSharedDataOnDiskfull, "spec.sharedData", "", "a Diskfull group keeps its data on its own disks, and a group that mounts data shared over the network is Dataless: set nodeType: Dataless, or remove sharedData")
	}
	required := map[string]bool{}
	for _, fs := range g.Spec.RequiredFilesystems {
		required[fs.MountPoint] = true
	}
	seen := map[string]string{}
	for _, d := range g.Spec.SharedData {
		field := fmt.Sprintf("spec.sharedData[%s].mountPoint", d.Name)
		switch other, dup := seen[d.MountPoint]; {
		case dup:
			ps.add(ReasonSharedDataMountPointInUse, field, "", "%s is already the mount point of sharedData[%s]: give each its own mount point", d.MountPoint, other)
		case required[d.MountPoint]:
			ps.add(ReasonSharedDataMountPointInUse, field, "", "%s is also a required local file system of the group (requiredFilesystems): mount the shared data elsewhere, or drop the required file system", d.MountPoint)
		default:
			seen[d.MountPoint] = d.Name
		}
	}
}

// DisklessRoot is a Diskless group's root (NFS unless it says RAM).
func DisklessRoot(g *v1alpha1.NodesGroup) v1alpha1.DisklessRoot {
	if g.Spec.Diskless != nil && g.Spec.Diskless.Root == v1alpha1.DisklessRootRAM {
		return v1alpha1.DisklessRootRAM
	}
	return v1alpha1.DisklessRootNFS
}

// DisklessWrites is where a Diskless group's writes go (Tmpfs unless it says Persistent).
func DisklessWrites(g *v1alpha1.NodesGroup) v1alpha1.DisklessWrites {
	if g.Spec.Diskless != nil && g.Spec.Diskless.Writes == v1alpha1.DisklessWritesPersistent {
		return v1alpha1.DisklessWritesPersistent
	}
	return v1alpha1.DisklessWritesTmpfs
}
