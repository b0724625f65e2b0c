package model

import (
	"sort"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// Input is one Cluster and what it references.
type Input struct {
	Cluster *v1alpha1.Cluster
	// Groups are the NodesGroups whose spec.clusterRef names the cluster.
	Groups []v1alpha1.NodesGroup
	// Machine is nil when not referenced yet or not found; likewise Network. One being
	// deleted (held by its in-use finalizer) is missing too, with a message that says so.
	Machine *v1alpha1.Machine
	Network *v1alpha1.Network
}

// resolver carries what earlier phases found to later ones.
type resolver struct {
	in      Input
	cluster string
	groups  []*v1alpha1.NodesGroup
	machine *machine
	nets    []parsedNet
	prov    int // index of the provisioning network in nets, -1 without a Network
	nodes   []*nodeState
	res     *Result

	problems, warnings, missing []Problem
}

// nodeState is one node while it is resolved.
type nodeState struct {
	out    Node
	group  *v1alpha1.NodesGroup
	spec   v1alpha1.Node
	drawer *drawer
	board  *v1alpha1.Board
	// networks are the indexes (in resolver.nets) of the networks the node is on.
	networks []int
	// addressed says every network the node is on gave it an address.
	addressed bool
}

// Resolve checks a cluster's model and resolves its nodes. It never fails: what is wrong
// is in Problems, what is not there yet in Missing.
func Resolve(in Input) *Result {
	r := &resolver{
		in:   in,
		prov: -1,
		res:  &Result{Steps: Steps{GenericArchive: map[string]bool{}}},
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

// references records what the cluster references and validates the Machine and Network.
func (r *resolver) references() {
	c := r.in.Cluster
	if c == nil {
		return
	}
	switch {
	case c.Spec.MachineRef == nil:
		r.missingf(ReasonMachineRefMissing, KindCluster, c.Name, "spec.machineRef", "", "no Machine yet: nodes cannot be placed on drawers and deployable archives need one; set spec.machineRef")
	case r.in.Machine == nil:
		r.missingf(ReasonMachineNotFound, KindCluster, c.Name, "spec.machineRef", "", "Machine %s is not found: create it or correct spec.machineRef", c.Spec.MachineRef.Name)
	case r.in.Machine.DeletionTimestamp != nil:
		r.missingf(ReasonMachineNotFound, KindCluster, c.Name, "spec.machineRef", "", "Machine %s is being deleted, held only while Clusters reference it: point spec.machineRef at another Machine, or remove spec.machineRef to let it go", c.Spec.MachineRef.Name)
		r.in.Machine = nil // the later phases see a Machine that is going as absent
	default:
		r.machine = indexMachine(r.in.Machine)
		r.problems = append(r.problems, ValidateMachine(r.in.Machine)...)
	}
	switch {
	case c.Spec.NetworkRef == nil:
		r.missingf(ReasonNetworkRefMissing, KindCluster, c.Name, "spec.networkRef", "", "no Network yet: nodes cannot be addressed and deployable archives need one; set spec.networkRef")
	case r.in.Network == nil:
		r.missingf(ReasonNetworkNotFound, KindCluster, c.Name, "spec.networkRef", "", "Network %s is not found: create it or correct spec.networkRef", c.Spec.NetworkRef.Name)
	case r.in.Network.DeletionTimestamp != nil:
		r.missingf(ReasonNetworkNotFound, KindCluster, c.Name, "spec.networkRef", "", "Network %s is being deleted, held only while Clusters reference it: point spec.networkRef at another Network, or remove spec.networkRef to let it go", c.Spec.NetworkRef.Name)
		r.in.Network = nil
	default:
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
