package model

import (
	"sort"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// Kinds named in problems.
const (
	KindCluster    = "Cluster"
	KindNodesGroup = "NodesGroup"
	KindMachine    = "Machine"
	KindNetwork    = "Network"
)

// Result is a resolved model: the nodes as they will be installed, and everything that keeps
// the model from being valid or complete.
type Result struct {
	// Nodes are every node of every group, sorted by group then name; a node that is not
	// placed has no shelf, drawer, board, NICs or disks.
	Nodes []Node
	// Problems are broken rules: the model contradicts itself (Valid=False).
	Problems []Problem
	// Warnings are doubtful but allowed (Valid stays True).
	Warnings []Problem
	// Missing is what a partial model still lacks (ModelComplete=False).
	Missing []Problem
	Counts  Counts
	Steps   Steps
	// Networks are the networks of the Network, in its order, with their parsed prefixes.
	Networks []Net
	// ProvisioningNetwork is the network the nodes boot on: the one marked provisioning, or
	// the first one; empty without a Network.
	ProvisioningNetwork string
}

// Counts counts the cluster's nodes.
type Counts struct {
	Total int32
	// Placed nodes run on a drawer of one of the cluster's Machines.
	Placed int32
	// Addressed nodes are placed and have an address on every network they are on.
	Addressed      int32
	MasterEligible int32
}

// Steps says which later steps the model allows now.
type Steps struct {
	// GenericArchive is true for a group whose generic archive can be built: it needs only
	// the group's arch, OS and software, and no problem inside the group.
	GenericArchive map[string]bool
	// Deployable is true when the model is complete and valid.
	Deployable bool
}

// Complete reports whether the model lacks nothing.
func (r *Result) Complete() bool { return len(r.Missing) == 0 }

// Valid reports whether the model breaks no rule.
func (r *Result) Valid() bool { return len(r.Problems) == 0 }

// ProblemsFor returns the problems that name one object.
func (r *Result) ProblemsFor(kind, name string) []Problem {
	return filter(r.Problems, kind, name)
}

// MissingFor returns what a partial model lacks on one object.
func (r *Result) MissingFor(kind, name string) []Problem {
	return filter(r.Missing, kind, name)
}

// WarningsFor returns the warnings that name one object.
func (r *Result) WarningsFor(kind, name string) []Problem {
	return filter(r.Warnings, kind, name)
}

// Node returns the resolved node of that name, or nil.
func (r *Result) Node(name string) *Node {
	for i := range r.Nodes {
		if r.Nodes[i].Name == name {
			return &r.Nodes[i]
		}
	}
	return nil
}

func filter(ps []Problem, kind, name string) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Kind == kind && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// Node is one node as it will be installed.
type Node struct {
	Name  string
	Group string
	ID    int32
	Role  v1alpha1.Role
	Type  v1alpha1.NodeType
	Arch  v1alpha1.Arch
	// Machine, Shelf and Drawer locate the node; empty when it is not placed.
	Machine, Shelf, Drawer string
	// Board is the drawer's board the node runs on: its first one.
	Board    string
	Firmware v1alpha1.Firmware
	NICs     []NIC
	// Addresses maps a network name to the node's IPv4 address on it.
	Addresses map[string]string
	Disks     []Disk
}

// MasterEligible reports whether the node may be elected master.
func (n *Node) MasterEligible() bool { return n.Role == v1alpha1.RoleMasterEligible }

// Placed reports whether the node runs on a drawer of the Machine.
func (n *Node) Placed() bool { return n.Drawer != "" }

// NICOn returns the NIC through which the node is on a network, or nil.
func (n *Node) NICOn(network string) *NIC {
	for i := range n.NICs {
		for _, nw := range n.NICs[i].Networks {
			if nw == network {
				return &n.NICs[i]
			}
		}
	}
	return nil
}

// NIC is an Ethernet interface of a node's board.
type NIC struct {
	Name string
	MAC  string
	// Switch is "shelf/switch" of the node's Machine (a NIC is cabled to a switch of its
	// own shelf), Port its port number; both empty when not cabled.
	Switch string
	Port   int32
	// CircuitID and RemoteID are what the switch's relay agent sends in option 82 for this
	// port, from its relayAgent template; empty when the switch has none.
	CircuitID, RemoteID string
	// Network is the first network (in the Network's order) this NIC is the node's
	// interface on, and IP its address there; Networks lists every such network (VLANs on
	// one cable).
	Network  string
	IP       string
	Networks []string
}

// Disk is a disk of a node's drawer.
type Disk struct {
	Name   string
	Device string
	// Serial and BusPath identify the disk on the node, when the Machine gives them.
	Serial, BusPath string
	// Size in bytes.
	Size   int64
	Slices []Slice
}

// Slice is a partition of a disk.
type Slice struct {
	Name  string
	Index int32
	// Size in bytes; 0 means the rest of the disk.
	Size int64
	// FSType is empty when the slice is not formatted.
	FSType     v1alpha1.FilesystemType
	MountPoint string
	Label      string
	Options    []string
}

// Net is one network of the Network, parsed.
type Net struct {
	Name         string
	CIDR         string
	VLAN         int32
	Router       string // the router's IPv4 address, empty when none
	Addressing   v1alpha1.Addressing
	NodeIDBits   int32
	Provisioning bool
	Switches     []string
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].less(ps[j]) })
}

// dedupe drops problems equal to the one before them; ps must be sorted.
func dedupe(ps []Problem) []Problem {
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}
