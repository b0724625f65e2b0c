package model

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// placement puts each node on its drawer: the drawer exists, runs no other node, holds a board
// of the group's arch.
func (r *resolver) placement() {
	type holder struct{ node, group string }
	held := map[string]holder{}
	for _, n := range r.nodes {
		g := n.group
		if n.spec.Drawer == "" {
			where := "the cluster's Machine"
			if r.machine != nil {
				where = "Machine " + r.machine.name
			}
			r.missingf(ReasonNodeNotPlaced, KindNodesGroup, g.Name, nodePath(n.spec.Name, "drawer"), n.spec.Name, "node %s is not placed on a drawer yet: set drawer to shelf/drawer of %s", n.spec.Name, where)
			continue
		}
		if r.machine == nil {
			continue // the missing machine is the cluster's to report
		}
		field := nodePath(n.spec.Name, "drawer")
		d, ok := r.machine.drawers[n.spec.Drawer]
		if !ok {
			shelf, _, _ := strings.Cut(n.spec.Drawer, "/")
			if !r.hasShelf(shelf) {
				r.problem(ReasonDrawerNotFound, KindNodesGroup, g.Name, field, n.spec.Name, "shelf %s is not in Machine %s: name a drawer of one of its shelves (%s)", shelf, r.machine.name, r.shelves())
			} else {
				r.problem(ReasonDrawerNotFound, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s is not in Machine %s: name a drawer of shelf %s", n.spec.Drawer, r.machine.name, shelf)
			}
			continue
		}
		if o, dup := held[n.spec.Drawer]; dup {
			if o.group != g.Name {
				r.problem(ReasonDrawerInUse, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s already runs node %s of NodesGroup %s: put each node on its own drawer", n.spec.Drawer, o.node, o.group)
			}
		} else {
			held[n.spec.Drawer] = holder{n.spec.Name, g.Name}
		}
		n.drawer = d
		n.out.Shelf, n.out.Drawer = d.shelf, d.name
		n.out.Disks = copyDisks(d.disks)
		if len(d.spec.Boards) == 0 {
			r.problem(ReasonNoBoardOnDrawer, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s has no board to run node %s: add a board to it in Machine %s, or place the node on another drawer", n.spec.Drawer, n.spec.Name, r.machine.name)
			continue
		}
		b := &d.spec.Boards[0]
		n.board = b
		n.out.Board = b.Name
		n.out.Firmware = b.Firmware
		if n.out.Firmware == "" {
			n.out.Firmware = "UEFI"
		}
		if b.Arch != g.Spec.Arch {
			r.problem(ReasonArchMismatch, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s holds an %s board (%s), but the group's arch is %s: place node %s on an %s drawer, or change spec.arch", n.spec.Drawer, b.Arch, b.Name, g.Spec.Arch, n.spec.Name, g.Spec.Arch)
		}
		for _, nic := range sortedNICs(b) {
			out := NIC{Name: nic.Name, MAC: nic.MAC}
			if nic.Link != nil {
				out.Switch = d.shelf + "/" + nic.Link.Switch
				out.Port = nic.Link.Port
			}
			n.out.NICs = append(n.out.NICs, out)
		}
	}
}

func (r *resolver) hasShelf(name string) bool {
	for _, s := range r.in.Machine.Spec.Shelves {
		if s.Name == name {
			return true
		}
	}
	return false
}

func (r *resolver) shelves() string {
	var names []string
	for _, s := range r.in.Machine.Spec.Shelves {
		names = append(names, s.Name)
	}
	return listOrNone(names)
}

func sortedNICs(b *v1alpha1.Board) []v1alpha1.NIC {
	nics := append([]v1alpha1.NIC(nil), b.NICs...)
	sort.SliceStable(nics, func(i, j int) bool { return nics[i].Name < nics[j].Name })
	return nics
}

func copyDisks(in []Disk) []Disk {
	out := make([]Disk, len(in))
	for i, d := range in {
		out[i] = d
		out[i].Slices = append([]Slice(nil), d.Slices...)
		for j := range out[i].Slices {
			out[i].Slices[j].Options = append([]string(nil), d.Slices[j].Options...)
		}
	}
	return out
}

// storage checks that every node that boots from its disk has a root file system and the
// group's required file systems, large enough.
func (r *resolver) storage() {
	for _, n := range r.nodes {
		g := n.group
		if n.drawer == nil || g.Spec.NodeType == v1alpha1.NodeTypeDiskless {
			continue
		}
		if _, ok := n.drawer.usable["/"]; !ok {
			r.problem(ReasonNoRootFilesystem, KindNodesGroup, g.Name, nodePath(n.spec.Name, "drawer"), n.spec.Name, "drawer %s has no slice mounted at /, yet a %s node boots from its own disk: add a slice with a file system mounted at / to a disk of the drawer in Machine %s", n.spec.Drawer, g.Spec.NodeType, r.machine.name)
		}
		for _, fs := range g.Spec.RequiredFilesystems {
			field := fmt.Sprintf("spec.requiredFilesystems[%s]", fs.MountPoint)
			have, ok := n.drawer.usable[fs.MountPoint]
			if !ok && fs.MountPoint == "/" {
				continue // the missing root is reported once, as NoRootFilesystem
			}
			if !ok {
				r.problem(ReasonFilesystemMissing, KindNodesGroup, g.Name, field, n.spec.Name, "node %s: drawer %s has no file system mounted at %s: add a slice mounted there to a disk of the drawer in Machine %s", n.spec.Name, n.spec.Drawer, fs.MountPoint, r.machine.name)
				continue
			}
			if fs.MinSize == "" {
				continue
			}
			want, err := bytesOf(fs.MinSize)
			if err != nil {
				continue // ValidateGroup reported it
			}
			if have < want {
				r.problem(ReasonFilesystemTooSmall, KindNodesGroup, g.Name, field, n.spec.Name, "node %s: %s on drawer %s is %s, less than the %s required: enlarge its slice in Machine %s or lower minSize", n.spec.Name, fs.MountPoint, n.spec.Drawer, human(have), human(want), r.machine.name)
			}
		}
	}
}

// services checks that the foundation services a group runs are the cluster's.
func (r *resolver) services() {
	if r.in.Cluster == nil {
		return
	}
	known := map[string]bool{}
	for _, s := range r.in.Cluster.Spec.FoundationServices {
		known[s.Name] = true
	}
	for _, g := range r.groups {
		for _, s := range g.Spec.Services {
			if !known[s] {
				r.problem(ReasonUnknownService, KindNodesGroup, g.Name, fmt.Sprintf("spec.services[%s]", s), "", "service %s is not a foundation service of Cluster %s: add it to the Cluster's spec.foundationServices, or remove it from the group", s, r.cluster)
			}
		}
	}
}

// masters checks that the cluster can elect a master and a vice-master.
func (r *resolver) masters() {
	var names []string
	for _, n := range r.nodes {
		if n.group.Spec.Role == v1alpha1.RoleMasterEligible && n.group.Spec.NodeType == v1alpha1.NodeTypeDiskfull {
			names = append(names, n.spec.Name)
		}
	}
	r.res.Counts.MasterEligible = int32(len(names))
	if len(r.nodes) == 0 || len(names) >= 2 || r.in.Cluster == nil {
		return
	}
	have := "no master-eligible node"
	if len(names) == 1 {
		have = fmt.Sprintf("1 master-eligible node (%s)", names[0])
	}
	if r.in.Cluster.Spec.MasterEligiblePolicy == v1alpha1.MasterEligibleWarn {
		r.warnf(ReasonNotEnoughMasterEligibleNodes, KindCluster, r.cluster, "", "", "the cluster has %s, but needs 2 for a master and a vice-master: add nodes to a MasterEligible Diskfull group", have)
		return
	}
	r.problem(ReasonNotEnoughMasterEligibleNodes, KindCluster, r.cluster, "", "", "the cluster has %s, but needs 2 for a master and a vice-master: add nodes to a MasterEligible Diskfull group, or set spec.masterEligiblePolicy: Warn", have)
}
