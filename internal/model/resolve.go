package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// Input is one Cluster and what it references.
type Input struct {
	Cluster *v1alpha1.Cluster
	// Groups are the NodesGroups whose spec.clusterRef names the cluster.
	Groups []v1alpha1.NodesGroup
	// Machines are the Machines of spec.machineRefs that exist, in any order: one that is
	// referenced and not among them is missing. Network is nil when not referenced yet or
	// not found. A Machine or Network being deleted (held by its in-use finalizer while the
	// Cluster references it) still exists: the model keeps it, with a warning that says so.
	Machines []*v1alpha1.Machine
	Network  *v1alpha1.Network
}

// resolver carries what earlier phases found to later ones.
type resolver struct {
	in      Input
	cluster string
	groups  []*v1alpha1.NodesGroup
	// machineRefs are the names spec.machineRefs lists, sorted; machines the ones found.
	machineRefs []string
	machines    map[string]*machine
	nets        []parsedNet
	prov        int // index of the provisioning network in nets, -1 without a Network
	nodes       []*nodeState
	res         *Result

	problems, warnings, missing []Problem
}

// nodeState is one node while it is resolved.
type nodeState struct {
	out    Node
	group  *v1alpha1.NodesGroup
	spec   v1alpha1.Node
	drawer *drawer
	board  *v1alpha1.Board
	// switches are the machine/shelf/switch keys of the board's NICs, as in out.NICs; ""
	// for a NIC that is not cabled.
	switches []string
	// networks are the indexes (in resolver.nets) of the networks the node is on.
	networks []int
	// addressed says every network the node is on gave it an address.
	addressed bool
}

// Resolve checks a cluster's model and resolves its nodes. It never fails: what is wrong
// is in Problems, what is not there yet in Missing.
func Resolve(in Input) *Result {
	r := &resolver{
		in:       in,
		prov:     -1,
		machines: map[string]*machine{},
		res:      &Result{Steps: Steps{GenericArchive: map[string]bool{}}},
	}
	if in.Cluster != nil {
		r.cluster = in.Cluster.Name
	}
	phases := []func(){
		r.references,
		r.collectGroups,
		r.identities,
		r.placement,
		r.storage,
		r.networks,
		r.addresses,
		r.masters,
		r.services,
	}
	for _, phase := range phases {
		phase()
	}
	return r.finish()
}

func (r *resolver) problem(reason Reason, kind, name, field, node, format string, args ...any) {
	ps := &problems{kind: kind, name: name}
	ps.add(reason, field, node, format, args...)
	r.problems = append(r.problems, ps.list...)
}

func (r *resolver) missingf(reason Reason, kind, name, field, node, format string, args ...any) {
	ps := &problems{kind: kind, name: name}
	ps.add(reason, field, node, format, args...)
	r.missing = append(r.missing, ps.list...)
}

func (r *resolver) warnf(reason Reason, kind, name, field, node, format string, args ...any) {
	ps := &problems{kind: kind, name: name}
	ps.add(reason, field, node, format, args...)
	r.warnings = append(r.warnings, ps.list...)
}

// references records what the cluster references and validates the Machines and Network.
func (r *resolver) references() {
	c := r.in.Cluster
	if c == nil {
		return
	}
	r.machinesOf(c)
	switch {
	case c.Spec.NetworkRef == nil:
		r.missingf(ReasonNetworkRefMissing, KindCluster, c.Name, "spec.networkRef", "", "no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef")
	case r.in.Network == nil:
		r.missingf(ReasonNetworkNotFound, KindCluster, c.Name, "spec.networkRef", "", "Network %s is not found: create it or correct spec.networkRef", c.Spec.NetworkRef.Name)
	default:
		if r.in.Network.DeletionTimestamp != nil {
			r.warnf(ReasonNetworkDeleting, KindCluster, c.Name, "spec.networkRef", "", "Network %s is being deleted, %s while Cluster %s references it, and the model keeps using it until then: point spec.networkRef at another Network, or remove spec.networkRef, to let it go", c.Spec.NetworkRef.Name, heldBy(r.in.Network.Finalizers), c.Name)
		}
		r.nets = parseNets(r.in.Network)
		r.prov = provisioning(r.nets)
		r.problems = append(r.problems, ValidateNetwork(r.in.Network)...)
		for _, n := range r.nets {
			r.res.Networks = append(r.res.Networks, n.Net)
		}
		if r.prov >= 0 {
			r.res.ProvisioningNetwork = r.nets[r.prov].Name
		}
	}
}

// machinesOf indexes the Machines the cluster references and checks their rules, each one's
// own and those that span them.
func (r *resolver) machinesOf(c *v1alpha1.Cluster) {
	if len(c.Spec.MachineRefs) == 0 {
		r.missingf(ReasonMachineRefMissing, KindCluster, c.Name, "spec.machineRefs", "", "no Machine yet: nodes cannot be placed on drawers and deployable archives need one; add the Machines the cluster runs on to spec.machineRefs")
		return
	}
	found := make(map[string]*v1alpha1.Machine, len(r.in.Machines))
	for _, m := range r.in.Machines {
		if m != nil {
			found[m.Name] = m
		}
	}
	for _, ref := range c.Spec.MachineRefs {
		r.machineRefs = append(r.machineRefs, ref.Name)
	}
	sort.Strings(r.machineRefs)
	r.machineRefs = slices.Compact(r.machineRefs)
	var ms []*v1alpha1.Machine
	for _, name := range r.machineRefs {
		field := fmt.Sprintf("spec.machineRefs[%s]", name)
		m, ok := found[name]
		if !ok {
			r.missingf(ReasonMachineNotFound, KindCluster, c.Name, field, "", "Machine %s is not found: create it or correct spec.machineRefs", name)
			continue
		}
		if m.DeletionTimestamp != nil {
			r.warnf(ReasonMachineDeleting, KindCluster, c.Name, field, "", "Machine %s is being deleted, %s while Cluster %s references it, and the model keeps using it until then: move the nodes on it to another Machine and remove it from spec.machineRefs to let it go", name, heldBy(m.Finalizers), c.Name)
		}
		r.machines[name] = indexMachine(m)
		ms = append(ms, m)
	}
	r.problems = append(r.problems, ValidateMachines(c.Name, ms)...)
}

// ValidateMachines checks the rules of the Machines a cluster runs on: each one's own
// (ValidateMachine) and those across them, a MAC once in all of them, since the install server
// tells the nodes apart by it. The Machine reconciler shows them on each Machine.
func ValidateMachines(cluster string, machines []*v1alpha1.Machine) []Problem {
	ms := slices.Clone(machines)
	slices.SortFunc(ms, func(a, b *v1alpha1.Machine) int { return strings.Compare(a.Name, b.Name) })
	var out []Problem
	for _, m := range ms {
		out = append(out, ValidateMachine(m)...)
	}
	out = append(out, macsAcross(cluster, ms)...)
	sortProblems(out)
	return out
}

// macsAcross finds the MACs two Machines of a cluster share, ms sorted by name; a MAC twice
// in one Machine is ValidateMachine's.
func macsAcross(cluster string, ms []*v1alpha1.Machine) []Problem {
	if len(ms) < 2 {
		return nil
	}
	type owner struct{ machine, nic, drawer, board string }
	macs := map[string]owner{}
	var out []Problem
	for _, m := range ms {
		ps := &problems{kind: KindMachine, name: m.Name}
		for _, sh := range m.Spec.Shelves {
			for _, d := range sh.Drawers {
				for _, b := range d.Boards {
					for _, n := range b.NICs {
						mac := strings.ToLower(n.MAC)
						o, dup := macs[mac]
						if !dup {
							macs[mac] = owner{m.Name, n.Name, sh.Name + "/" + d.Name, b.Name}
							continue
						}
						if o.machine != m.Name {
							ps.add(ReasonDuplicateMAC, nicPath(sh.Name, d.Name, b.Name, n.Name)+".mac", "", "MAC %s is already the MAC of NIC %s of drawer %s board %s of Machine %s, which Cluster %s also runs on: give each NIC its own MAC", n.MAC, o.nic, o.drawer, o.board, o.machine, cluster)
						}
					}
				}
			}
		}
		out = append(out, ps.list...)
	}
	return out
}

// heldBy says what keeps an object that is being deleted.
func heldBy(finalizers []string) string {
	switch len(finalizers) {
	case 0:
		return "held by no finalizer"
	case 1:
		return "held by finalizer " + finalizers[0]
	}
	return "held by finalizers " + strings.Join(finalizers, ", ")
}

// locate splits a reference to a drawer or switch of the cluster (machine/shelf/name, or
// shelf/name when the cluster has one Machine) into the Machine's name and the shelf/name
// within it. ok is false for a short reference in a cluster of several Machines.
func (r *resolver) locate(ref string) (machine, local string, ok bool) {
	if first, rest, found := strings.Cut(ref, "/"); found && strings.Contains(rest, "/") {
		return first, rest, true
	}
	if len(r.machineRefs) == 1 {
		return r.machineRefs[0], ref, true
	}
	return "", ref, false
}

// referenced reports whether the cluster lists a Machine in spec.machineRefs.
func (r *resolver) referenced(name string) bool {
	_, ok := slices.BinarySearch(r.machineRefs, name)
	return ok
}

// collectGroups validates each group and lists its nodes, sorted by group then name.
func (r *resolver) collectGroups() {
	for i := range r.in.Groups {
		r.groups = append(r.groups, &r.in.Groups[i])
	}
	sort.SliceStable(r.groups, func(i, j int) bool { return r.groups[i].Name < r.groups[j].Name })
	if len(r.groups) == 0 && r.in.Cluster != nil {
		r.missingf(ReasonNoNodesGroups, KindCluster, r.cluster, "", "", "no NodesGroup names this cluster yet: create one with spec.clusterRef.name: %s", r.cluster)
	}
	for _, g := range r.groups {
		gp := ValidateGroup(g)
		r.problems = append(r.problems, gp...)
		r.res.Steps.GenericArchive[g.Name] = g.Spec.Arch != "" && g.Spec.OS.Name != "" && len(gp) == 0
		if len(g.Spec.Nodes) == 0 {
			r.missingf(ReasonNoNodes, KindNodesGroup, g.Name, "spec.nodes", "", "the group has no nodes yet: add nodes with a name, an id and a drawer")
		}
		seen := map[string]bool{}
		for _, n := range sortedNodes(g) {
			if seen[n.Name] {
				continue // ValidateGroup reported it
			}
			seen[n.Name] = true
			r.nodes = append(r.nodes, &nodeState{group: g, spec: n, out: Node{
				Name: n.Name, Group: g.Name, ID: n.ID, Role: g.Spec.Role, Type: g.Spec.NodeType,
				Arch: g.Spec.Arch, Addresses: map[string]string{},
			}})
		}
	}
}

// identities checks that node names and ids are unique across the groups of the cluster;
// ValidateGroup already checked them inside each group.
func (r *resolver) identities() {
	type first struct{ node, group string }
	names := map[string]first{}
	ids := map[int32]first{}
	for _, n := range r.nodes {
		g := n.group.Name
		if o, dup := names[n.spec.Name]; dup && o.group != g {
			r.problem(ReasonDuplicateNodeName, KindNodesGroup, g, nodePath(n.spec.Name, "name"), n.spec.Name, "node name %s is already used by NodesGroup %s: node names must be unique in Cluster %s, rename one", n.spec.Name, o.group, r.cluster)
		} else if !dup {
			names[n.spec.Name] = first{n.spec.Name, g}
		}
		if o, dup := ids[n.spec.ID]; dup && o.group != g {
			r.problem(ReasonDuplicateNodeID, KindNodesGroup, g, nodePath(n.spec.Name, "id"), n.spec.Name, "node id %d is already the id of node %s of NodesGroup %s: give each node of the cluster its own id", n.spec.ID, o.node, o.group)
		} else if !dup {
			ids[n.spec.ID] = first{n.spec.Name, g}
		}
	}
}

// finish sorts, counts and decides the steps.
func (r *resolver) finish() *Result {
	res := r.res
	for _, n := range r.nodes {
		res.Nodes = append(res.Nodes, n.out)
		res.Counts.Total++
		if n.drawer != nil {
			res.Counts.Placed++
		}
		if n.addressed {
			res.Counts.Addressed++
		}
	}
	for _, l := range []*[]Problem{&r.problems, &r.warnings, &r.missing} {
		sortProblems(*l)
		*l = dedupe(*l)
	}
	res.Problems, res.Warnings, res.Missing = r.problems, r.warnings, r.missing
	res.Steps.Deployable = res.Complete() && res.Valid() && r.in.Cluster != nil
	return res
}
