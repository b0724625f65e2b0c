package model

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// placement puts each node on its drawer: the drawer exists in one of the cluster's
// Machines, runs no other node of the cluster, holds a board of the group's arch.
func (r *resolver) placement() {
	type holder struct{ node, group, ref string }
	held := map[string]holder{}
	for _, n := range r.nodes {
		g := n.group
		field := nodePath(n.spec.Name, "drawer")
		if n.spec.Drawer == "" {
			r.missingf(ReasonNodeNotPlaced, KindNodesGroup, g.Name, field, n.spec.Name, "node %s is not placed on a drawer yet: set drawer to %s", n.spec.Name, r.drawerForm())
			continue
		}
		if len(r.machineRefs) == 0 {
			continue // the missing machines are the cluster's to report
		}
		mname, local, ok := r.locate(n.spec.Drawer)
		if !ok {
			r.problem(ReasonDrawerNeedsMachine, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s names no Machine, but Cluster %s runs on %d Machines (%s): write it as machine/shelf/drawer, such as %s/%s", n.spec.Drawer, r.cluster, len(r.machineRefs), strings.Join(r.machineRefs, ", "), r.machineRefs[0], n.spec.Drawer)
			continue
		}
		if !r.referenced(mname) {
			r.problem(ReasonMachineNotReferenced, KindNodesGroup, g.Name, field, n.spec.Name, "Machine %s of drawer %s is not a Machine of Cluster %s: name a drawer of one of its Machines (%s), or add %s to the Cluster's spec.machineRefs", mname, n.spec.Drawer, r.cluster, strings.Join(r.machineRefs, ", "), mname)
			continue
		}
		m, found := r.machines[mname]
		if !found {
			continue // the Cluster says the Machine is missing
		}
		d, ok := m.drawers[local]
		if !ok {
			shelf, _, _ := strings.Cut(local, "/")
			if !m.hasShelf(shelf) {
				r.problem(ReasonDrawerNotFound, KindNodesGroup, g.Name, field, n.spec.Name, "shelf %s is not in Machine %s: name a drawer of one of its shelves (%s)", shelf, m.name, m.shelves())
			} else {
				r.problem(ReasonDrawerNotFound, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s is not in Machine %s: name a drawer of shelf %s", n.spec.Drawer, m.name, shelf)
			}
			continue
		}
		if o, dup := held[d.key()]; dup {
			// Two entries of one group with the same text are ValidateGroup's to report.
			if o.group != g.Name || o.ref != n.spec.Drawer {
				r.problem(ReasonDrawerInUse, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s already runs node %s of NodesGroup %s: put each node on its own drawer", n.spec.Drawer, o.node, o.group)
			}
		} else {
			held[d.key()] = holder{n.spec.Name, g.Name, n.spec.Drawer}
		}
		n.drawer = d
		n.out.Machine, n.out.Shelf, n.out.Drawer = d.machine, d.shelf, d.name
		n.out.Disks = copyDisks(d.disks)
		if len(d.spec.Boards) == 0 {
			r.problem(ReasonNoBoardOnDrawer, KindNodesGroup, g.Name, field, n.spec.Name, "drawer %s has no board to run node %s: add a board to it in Machine %s, or place the node on another drawer", n.spec.Drawer, n.spec.Name, d.machine)
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
			key := ""
			if nic.Link != nil {
				out.Switch = d.shelf + "/" + nic.Link.Switch
				out.Port = nic.Link.Port
				key = d.machine + "/" + out.Switch
				if ra := m.relayAgent(d.shelf, nic.Link.Switch); ra != nil {
					out.CircuitID = strings.ReplaceAll(ra.CircuitID, "{port}", strconv.Itoa(int(nic.Link.Port)))
					out.RemoteID = ra.RemoteID
				}
			}
			n.out.NICs = append(n.out.NICs, out)
			n.switches = append(n.switches, key)
		}
	}
}

// drawerForm says how a node names its drawer in this cluster.
func (r *resolver) drawerForm() string {
	switch len(r.machineRefs) {
	case 0:
		return "shelf/drawer of the cluster's Machine"
	case 1:
		return "shelf/drawer of Machine " + r.machineRefs[0]
	}
	return "machine/shelf/drawer of one of its Machines (" + strings.Join(r.machineRefs, ", ") + ")"
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
		for _, d := range g.Spec.SharedData {
			if local := hiddenBy(d.MountPoint, n.drawer.usable); local != "" {
				r.problem(ReasonSharedDataHidesLocalFilesystem, KindNodesGroup, g.Name, fmt.Sprintf("spec.sharedData[%s].mountPoint", d.Name), n.spec.Name,
					"node %s: shared data %s mounted at %s would hide the local file system at %s of drawer %s (Machine %s): mount the shared data elsewhere, or move the slice",
					n.spec.Name, d.Name, d.MountPoint, local, n.spec.Drawer, n.drawer.machine)
			}
		}
		if _, ok := n.drawer.usable["/"]; !ok {
			r.problem(ReasonNoRootFilesystem, KindNodesGroup, g.Name, nodePath(n.spec.Name, "drawer"), n.spec.Name, "drawer %s has no slice mounted at /, yet a %s node boots from its own disk: add a slice with a file system mounted at / to a disk of the drawer in Machine %s", n.spec.Drawer, g.Spec.NodeType, n.drawer.machine)
		}
		for _, fs := range g.Spec.RequiredFilesystems {
			field := fmt.Sprintf("spec.requiredFilesystems[%s]", fs.MountPoint)
			have, ok := n.drawer.usable[fs.MountPoint]
			if !ok && fs.MountPoint == "/" {
				continue // the missing root is reported once, as NoRootFilesystem
			}
			if !ok {
				r.problem(ReasonFilesystemMissing, KindNodesGroup, g.Name, field, n.spec.Name, "node %s: drawer %s has no file system mounted at %s: add a slice mounted there to a disk of the drawer in Machine %s", n.spec.Name, n.spec.Drawer, fs.MountPoint, n.drawer.machine)
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
				r.problem(ReasonFilesystemTooSmall, KindNodesGroup, g.Name, field, n.spec.Name, "node %s: %s on drawer %s is %s, less than the %s required: enlarge its slice in Machine %s or lower minSize", n.spec.Name, fs.MountPoint, n.spec.Drawer, human(have), human(want), n.drawer.machine)
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

// hiddenBy returns the first local mount point (sorted) that a mount at mp would hide: mp
// itself, or one below it.
func hiddenBy(mp string, usable map[string]int64) string {
	var hit []string
	for local := range usable {
		if local == mp || strings.HasPrefix(local, strings.TrimSuffix(mp, "/")+"/") {
			hit = append(hit, local)
		}
	}
	if len(hit) == 0 {
		return ""
	}
	slices.Sort(hit)
	return hit[0]
}
