package rollout

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

func cluster(desired map[string]string) []Node {
	var nodes []Node
	add := func(group string, n int, me bool) {
		for i := range n {
			nodes = append(nodes, Node{Group: group, Name: fmt.Sprintf("%s-%d", group, i), MasterEligible: me,
				Phase: "Running", Installed: "old-" + group, Desired: desired[group]})
		}
	}
	add("masters", 3, true)
	add("compute", 6, false)
	add("storage", 2, false)
	return nodes
}

// A rollout driven to its end by nodes that go down, install and come back in random order
// (some failing on the way, then retried) never has more than a group's maxUnavailable down,
// never two master-eligible nodes down at once, always one up, never touches a group whose
// deployable did not change, and ends with every node on its group's digest. A node that
// boots from the network installs only if it is told at that moment, as the install server
// answers it; otherwise it goes back to the system it runs.
func TestRolloutKeepsTheBoundsAndConverges(t *testing.T) {
	maxUn := map[string]int{"masters": 2, "compute": 2}
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		nodes := cluster(map[string]string{"masters": "new-masters", "compute": "new-compute", "storage": "old-storage"})
		var told []string
		for step := 0; ; step++ {
			if step > 500 {
				t.Fatalf("seed %d: no convergence after 500 steps: %+v", seed, nodes)
			}
			d := Next(nodes, maxUn, told)
			told = d.Reinstall
			isTold := map[string]bool{}
			for _, id := range told {
				isTold[id] = true
			}
			down := map[string]int{}
			mastersDown, mastersUp := 0, 0
			for _, n := range nodes {
				if n.Group == "storage" && (isTold[n.ID()] || !n.running()) {
					t.Fatalf("seed %d: storage's deployable did not change, yet %s is %s (told %v)", seed, n.ID(), n.Phase, isTold[n.ID()])
				}
				if !n.running() || isTold[n.ID()] {
					down[n.Group]++
					if n.MasterEligible {
						mastersDown++
					}
				} else if n.MasterEligible {
					mastersUp++
				}
			}
			for g, c := range down {
				if c > max(maxUn[g], 1) {
					t.Fatalf("seed %d step %d: %d nodes of %s down, maxUnavailable %d", seed, step, c, g, maxUn[g])
				}
			}
			if mastersDown > 1 || mastersUp < 1 {
				t.Fatalf("seed %d step %d: %d master-eligible nodes down, %d up", seed, step, mastersDown, mastersUp)
			}
			done := true
			for i := range nodes {
				n := &nodes[i]
				if n.Installed != n.Desired || !n.running() {
					done = false
				}
				if rng.Intn(3) != 0 {
					continue // this node does nothing this step
				}
				switch {
				case n.running() && isTold[n.ID()]:
					n.Phase = "Booting"
				case n.Phase == "Booting" && !isTold[n.ID()] && n.Installed != n.Desired:
					n.Phase = "Running" // the install server says BootLocal
				case n.Phase == "Booting":
					n.Phase = "Installing"
				case n.Phase == "Installing" && rng.Intn(5) == 0:
					n.Phase = "Failed"
				case n.Phase == "Installing":
					n.Phase, n.Installed = "Rebooting", n.Desired
				case n.Phase == "Failed":
					n.Phase = "Booting" // the operator's retry
				case n.Phase == "Rebooting":
					n.Phase = "Running"
				}
			}
			if done {
				break
			}
		}
	}
}

func TestHeldNodesSayWhy(t *testing.T) {
	nodes := []Node{
		{Group: "m", Name: "a", MasterEligible: true, Phase: "Running", Installed: "x", Desired: "y"},
		{Group: "m", Name: "b", MasterEligible: true, Phase: "Installing", Installed: "x", Desired: "y"},
		{Group: "c", Name: "c1", Phase: "Running", Installed: "x", Desired: "y"},
		{Group: "c", Name: "c2", Phase: "Running", Installed: "x", Desired: "y"},
		{Group: "c", Name: "c3", Phase: "Running", Installed: "y", Desired: "y"},
		{Group: "solo", Name: "s", MasterEligible: true, Phase: "Running", Installed: "x", Desired: ""},
	}
	d := Next(nodes, map[string]int{"m": 3}, nil)
	want := Decision{Reinstall: []string{"c/c1"}, Held: []Held{
		{Node: "c/c2", Reason: ReasonMaxUnavailable, Message: "waits: 1 of group c's nodes are down or reinstalling, its maxUnavailable is 1"},
		{Node: "m/a", Reason: ReasonMasterEligibleOut, Message: "waits: master-eligible node m/b is down or reinstalling, and two master-eligible nodes (the master and the vice-master) never go at once"},
	}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("got  %+v\nwant %+v", d, want)
	}
	// b comes back on the new digest; a is now the one master-eligible node to go, but the
	// only other one up (s) keeps the cluster with a master.
	nodes[1].Phase, nodes[1].Installed = "Running", "y"
	if d := Next(nodes, map[string]int{"m": 3}, d.Reinstall); !reflect.DeepEqual(d.Reinstall, []string{"c/c1", "m/a"}) {
		t.Fatalf("reinstall %v, held %+v", d.Reinstall, d.Held)
	}
	// Alone, a master-eligible node is never taken down.
	one := []Node{{Group: "m", Name: "a", MasterEligible: true, Phase: "Running", Installed: "x", Desired: "y"}}
	if d := Next(one, nil, nil); len(d.Reinstall) != 0 || len(d.Held) != 1 || d.Held[0].Reason != ReasonLastMaster {
		t.Fatalf("the last master-eligible node: %+v", d)
	}
}
