// Package sitegen generates the objects of a cluster of a given size (nodes, NodesGroups,
// Machines), every node placed in a drawer and addressed, for benchmarks and scale tests:
// the model's and the resolution cache's benchmarks, and the P5 site benchmark that applies
// the objects to an API server. It only builds objects; it neither resolves nor writes them.
package sitegen

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// Shape is the size of a generated cluster.
type Shape struct {
	// Nodes are spread evenly over Groups (the first group is master-eligible) and, in
	// order, over Machines: a Machine holds at most MaxPerMachine nodes.
	Nodes, Groups, Machines int
	// Cluster names the Cluster; the Network and Machines are named after it.
	Cluster string
	// Namespace of every object; "" leaves it unset.
	Namespace string
	// Archive, when set, is the FlashArchive every group names in spec.archiveRef.
	Archive string
}

// MaxPerMachine is how many drawers a generated Machine has: 8 shelves of 16, the most the
// Machine's CEL cost bounds allow.
const MaxPerMachine = 8 * 16

// Site is a generated cluster.
type Site struct {
	Cluster  *fcv1.Cluster
	Machines []*fcv1.Machine
	Network  *fcv1.Network
	Groups   []*fcv1.NodesGroup
}

// Generate builds the objects of a cluster of the given shape. Each node gets the drawer
// machine/shelfS/dD, a NIC with a MAC of its own cabled to its shelf's switch, and an
// address on one Derived provisioning network (198.18.0.0/15) that runs on every switch.
func Generate(s Shape) (*Site, error) {
	if s.Cluster == "" {
		s.Cluster = "site"
	}
	if s.Groups < 1 || s.Machines < 1 || s.Nodes < s.Groups {
		return nil, fmt.Errorf("shape %+v: want at least one Machine, one group and a node per group", s)
	}
	perMachine := (s.Nodes + s.Machines - 1) / s.Machines
	if perMachine > MaxPerMachine {
		return nil, fmt.Errorf("shape %+v: %d nodes a Machine, more than the %d drawers of one", s, perMachine, MaxPerMachine)
	}
	if s.Nodes >= 1<<14 {
		return nil, fmt.Errorf("shape %+v: node ids must fit the network's 14 bits", s)
	}
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: s.Namespace} }
	str := func(v string) *string { return &v }
	site := &Site{}
	var refs []fcv1.LocalObjectReference
	var switches []string
	shelves := (perMachine + 15) / 16
	for mi := range s.Machines {
		m := &fcv1.Machine{TypeMeta: typeMeta("Machine"), ObjectMeta: meta(fmt.Sprintf("%s-rack%d", s.Cluster, mi))}
		for si := range shelves {
			sh := fcv1.Shelf{Name: fmt.Sprintf("shelf%d", si), Switches: []fcv1.Switch{{Name: "sw0", Ports: 32}}}
			for di := range 16 {
				sh.Drawers = append(sh.Drawers, fcv1.Drawer{
					Name: fmt.Sprintf("d%d", di),
					Disks: []fcv1.Disk{{Name: "sda", Device: "/dev/sda", Size: "100Gi", Slices: []fcv1.Slice{
						{Name: "root", Index: 1, Size: str("40Gi"), Filesystem: &fcv1.Filesystem{Type: "ext4", MountPoint: "/"}},
						{Name: "var", Index: 2, Filesystem: &fcv1.Filesystem{Type: "xfs", MountPoint: "/var"}},
					}}},
					Boards: []fcv1.Board{{Name: "b0", Arch: "amd64", NICs: []fcv1.NIC{{
						Name: "eth0", MAC: fmt.Sprintf("02:%02x:%02x:%02x:%02x:00", mi>>8, mi&0xff, si, di),
						Link: &fcv1.PortLink{Switch: "sw0", Port: int32(di + 1)},
					}}}},
				})
			}
			m.Spec.Shelves = append(m.Spec.Shelves, sh)
			switches = append(switches, fmt.Sprintf("%s/%s/sw0", m.Name, sh.Name))
		}
		site.Machines = append(site.Machines, m)
		refs = append(refs, fcv1.LocalObjectReference{Name: m.Name})
	}
	site.Network = &fcv1.Network{TypeMeta: typeMeta("Network"), ObjectMeta: meta(s.Cluster + "-net"), Spec: fcv1.NetworkSpec{
		Networks: []fcv1.IPNetwork{{Name: "internal", CIDR: "198.18.0.0/15", NodeIDBits: 14, Switches: switches, Provisioning: true}},
	}}
	site.Cluster = &fcv1.Cluster{TypeMeta: typeMeta("Cluster"), ObjectMeta: meta(s.Cluster), Spec: fcv1.ClusterSpec{
		Domain: 1, MachineRefs: refs, NetworkRef: &fcv1.LocalObjectReference{Name: site.Network.Name},
	}}
	for gi := range s.Groups {
		role := fcv1.RoleNonMasterEligible
		if gi == 0 {
			role = fcv1.RoleMasterEligible
		}
		g := &fcv1.NodesGroup{TypeMeta: typeMeta("NodesGroup"), ObjectMeta: meta(fmt.Sprintf("g%03d", gi)), Spec: fcv1.NodesGroupSpec{
			ClusterRef: fcv1.LocalObjectReference{Name: s.Cluster}, Role: role, NodeType: fcv1.NodeTypeDiskfull,
			OS: fcv1.OSSpec{Name: "debian", Version: "13"}, Arch: "amd64",
		}}
		if s.Archive != "" {
			g.Spec.ArchiveRef = &fcv1.LocalObjectReference{Name: s.Archive}
		}
		site.Groups = append(site.Groups, g)
	}
	for k := range s.Nodes {
		g := site.Groups[k*s.Groups/s.Nodes]
		d := k % perMachine
		g.Spec.Nodes = append(g.Spec.Nodes, fcv1.Node{
			Name: fmt.Sprintf("n%05d", k+1), ID: int32(k + 1),
			Drawer: fmt.Sprintf("%s-rack%d/shelf%d/d%d", s.Cluster, k/perMachine, d/16, d%16),
		})
	}
	return site, nil
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: fcv1.GroupVersion.String(), Kind: kind}
}
