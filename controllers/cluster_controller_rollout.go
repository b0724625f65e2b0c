package controllers

import (
	"fmt"
	"sort"
	"strings"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/rollout"
)

// Reasons of the Deployed condition.
const (
	ReasonAllRunning       = "AllNodesRunning"
	ReasonNoSoftwareLoad   = "NoDeployableArchives"
	ReasonNodesFailed      = "NodesFailed"
	ReasonNodesNotDeployed = "NodesNotDeployed"
)

// deployment fills the cluster's rollout step and its Deployed condition from the nodes'
// phases and digests (as the install server recorded them in their groups) and each group's
// deployable digest (st.SoftwareLoad, just computed).
func (r *ClusterReconciler) deployment(cl *fcv1.Cluster, groups []fcv1.NodesGroup, st *fcv1.ClusterStatus) {
	desired := map[string]string{}
	if st.SoftwareLoad != nil {
		for _, a := range st.SoftwareLoad.Archives {
			desired[a.NodesGroup] = a.Digest
		}
	}
	var nodes []rollout.Node
	maxUn := map[string]int{}
	var failed, behind []string
	for _, g := range groups {
		maxUn[g.Name] = int(g.Spec.Rollout.MaxUnavailable)
		reported := map[string]fcv1.NodeStatus{}
		for _, n := range g.Status.Nodes {
			reported[n.Name] = n
		}
		for _, n := range g.Spec.Nodes {
			s := reported[n.Name]
			phase := string(s.Phase)
			if phase == "" {
				phase = string(fcv1.NodePending)
			}
			node := rollout.Node{Group: g.Name, Name: n.Name, MasterEligible: g.Spec.Role == fcv1.RoleMasterEligible,
				Phase: phase, Installed: s.InstalledDigest, Desired: desired[g.Name]}
			nodes = append(nodes, node)
			switch {
			case phase == string(fcv1.NodeFailed):
				failed = append(failed, node.ID())
			case phase != string(fcv1.NodeRunning) || node.Desired == "" || node.Installed != node.Desired:
				behind = append(behind, node.ID())
			}
		}
	}
	var previous []string
	if cl.Status.Rollout != nil {
		previous = cl.Status.Rollout.Reinstall
	}
	d := rollout.Next(nodes, maxUn, previous)
	if len(d.Reinstall) > 0 || len(d.Held) > 0 {
		st.Rollout = &fcv1.RolloutStatus{Reinstall: d.Reinstall}
		for _, h := range d.Held {
			st.Rollout.Held = append(st.Rollout.Held, fcv1.HeldNode{Node: h.Node, Reason: h.Reason, Message: h.Message})
		}
	}

	deployed := condition(cl, fcv1.ConditionDeployed, true, ReasonAllRunning,
		fmt.Sprintf("all %d nodes run their group's deployable archive", len(nodes)))
	switch {
	case len(desired) == 0 || len(nodes) == 0:
		deployed = condition(cl, fcv1.ConditionDeployed, false, ReasonNoSoftwareLoad, "no group has a deployable archive built yet: no node can be deployed")
	case len(failed) > 0:
		deployed = condition(cl, fcv1.ConditionDeployed, false, ReasonNodesFailed,
			fmt.Sprintf("%d of %d nodes failed (%s): their groups' status.nodes say at which step and why", len(failed), len(nodes), list(failed, 8)))
	case len(behind) > 0:
		deployed = condition(cl, fcv1.ConditionDeployed, false, ReasonNodesNotDeployed,
			fmt.Sprintf("%d of %d nodes do not yet run their group's deployable archive (%s); by phase: %s", len(behind), len(nodes), list(behind, 8), phaseCounts(st.NodesByPhase)))
	}
	st.Conditions = setConditions(r.Recorder, cl, st.Conditions, deployed)
}

func list(ids []string, limit int) string {
	if len(ids) <= limit {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:limit], ", ") + fmt.Sprintf(" and %d more", len(ids)-limit)
}

func phaseCounts(counts map[string]int32) string {
	var out []string
	for p, n := range counts {
		out = append(out, fmt.Sprintf("%d %s", n, p))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
