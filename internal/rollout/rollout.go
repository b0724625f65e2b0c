// Package rollout decides which nodes of a cluster reinstall now when their group's
// deployable archive changes: at most a group's maxUnavailable nodes down at once, never
// two master-eligible nodes of the cluster down together (the master and the vice-master
// must not go at the same time), and never the last master-eligible node that is up.
//
// It is pure: it reads the nodes' phases and digests as the install server reported them
// and the previous decision, and returns the next one with a reason for every node that
// waits. The Cluster controller publishes the decision in the Cluster's status; the install
// server tells the resident agent of each chosen node to reinstall.
package rollout

import (
	"fmt"
	"sort"
)

// Node is one node as the rollout sees it.
type Node struct {
	Group string
	Name  string
	// MasterEligible nodes may be elected master; the cluster keeps one of them up.
	MasterEligible bool
	// Phase is the install server's report (Pending, Booting, …, Running, Failed).
	Phase string
	// Installed is the digest the node runs; Desired its group's deployable digest (empty:
	// not built yet, nothing to roll out).
	Installed, Desired string
}

// ID names a node in a decision: group/name.
func (n Node) ID() string { return n.Group + "/" + n.Name }

func (n Node) running() bool { return n.Phase == "Running" }

// stale nodes run an archive other than their group's current one.
func (n Node) stale() bool { return n.running() && n.Desired != "" && n.Installed != n.Desired }

// Reasons a stale node waits.
const (
	ReasonMaxUnavailable    = "MaxUnavailable"
	ReasonMasterEligibleOut = "MasterEligibleDown"
	ReasonLastMaster        = "LastMasterEligible"
)

// Held is a stale node that waits, and why.
type Held struct {
	Node    string
	Reason  string
	Message string
}

// Decision is the set of nodes told to reinstall now, and the stale nodes that wait.
type Decision struct {
	// Reinstall holds node IDs, sorted.
	Reinstall []string
	Held      []Held
}

// Next returns the next decision. maxUnavailable maps a group to its
// rollout.maxUnavailable (absent or below 1: 1); previous is the Reinstall list of the last
// decision: a node told to reinstall stays told until it runs its group's deployable or
// fails, and counts as down, so the budget is never spent twice. It stays told while it is
// down for the reinstall (Rebooting, Booting, Installing), because the install server
// answers a node that runs another archive and is not told with "boot your disk": dropped as
// soon as it left Running, a node that rebooted into the network for its reinstall was sent
// back to its old system, told again, and so on (a qemu node through its firmware's BootNext
// did that).
func Next(nodes []Node, maxUnavailable map[string]int, previous []string) Decision {
	told := map[string]bool{}
	for _, id := range previous {
		told[id] = true
	}
	sorted := append([]Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID() < sorted[j].ID() })

	var d Decision
	down := map[string]int{}  // per group: nodes not Running, or told and not yet done
	var mastersUp []string    // master-eligible nodes up and not told
	var mastersDown []string  // master-eligible nodes down or told
	keep := map[string]bool{} // told nodes still to go
	for _, n := range sorted {
		stillTold := told[n.ID()] && n.Desired != "" && n.Installed != n.Desired && n.Phase != "Failed"
		if stillTold {
			keep[n.ID()] = true
		}
		if !n.running() || stillTold {
			down[n.Group]++
			if n.MasterEligible {
				mastersDown = append(mastersDown, n.ID())
			}
		} else if n.MasterEligible {
			mastersUp = append(mastersUp, n.ID())
		}
	}
	for _, n := range sorted {
		id := n.ID()
		if keep[id] {
			d.Reinstall = append(d.Reinstall, id)
			continue
		}
		if !n.stale() {
			continue
		}
		budget := max(maxUnavailable[n.Group], 1)
		switch {
		case down[n.Group] >= budget:
			d.Held = append(d.Held, Held{Node: id, Reason: ReasonMaxUnavailable,
				Message: fmt.Sprintf("waits: %d of group %s's nodes are down or reinstalling, its maxUnavailable is %d", down[n.Group], n.Group, budget)})
		case n.MasterEligible && len(mastersDown) > 0:
			d.Held = append(d.Held, Held{Node: id, Reason: ReasonMasterEligibleOut,
				Message: fmt.Sprintf("waits: master-eligible node %s is down or reinstalling, and two master-eligible nodes (the master and the vice-master) never go at once", mastersDown[0])})
		case n.MasterEligible && len(mastersUp) <= 1:
			d.Held = append(d.Held, Held{Node: id, Reason: ReasonLastMaster,
				Message: "waits: it is the cluster's last master-eligible node up; reinstalling it would leave the cluster without a master: bring another master-eligible node up first"})
		default:
			d.Reinstall = append(d.Reinstall, id)
			down[n.Group]++
			if n.MasterEligible {
				mastersDown = append(mastersDown, id)
				mastersUp = remove(mastersUp, id)
			}
		}
	}
	sort.Strings(d.Reinstall)
	return d
}

func remove(ids []string, id string) []string {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
