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
