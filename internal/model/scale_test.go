package model

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// bigSite is a generated site of nodes nodes in groups of 100 over machines Machines, each
// full (8 shelves of 16 drawers, a 32-port switch per shelf): every node placed, with a root
// file system, and addressed on one Derived network of 2^17 addresses.
func bigSite(nodes, machines int) Input {
	str := func(s string) *string { return &s }
	var ms []*v1alpha1.Machine
	var refs []v1alpha1.LocalObjectReference
	var switches []string
	for mi := range machines {
		m := &v1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rack%d", mi)}}
		for si := range 8 {
			sh := v1alpha1.Shelf{Name: fmt.Sprintf("shelf%d", si), Switches: []v1alpha1.Switch{{Name: "sw0", Ports: 32}}}
			for di := range 16 {
				sh.Drawers = append(sh.Drawers, v1alpha1.Drawer{
					Name: fmt.Sprintf("d%d", di),
					Disks: []v1alpha1.Disk{{Name: "sda", Device: "/dev/sda", Size: "100Gi", Slices: []v1alpha1.Slice{
						{Name: "root", Index: 1, Size: str("40Gi"), Filesystem: &v1alpha1.Filesystem{Type: "ext4", MountPoint: "/"}},
						{Name: "var", Index: 2, Filesystem: &v1alpha1.Filesystem{Type: "xfs", MountPoint: "/var"}},
					}}},
					Boards: []v1alpha1.Board{{Name: "b0", Arch: "amd64", NICs: []v1alpha1.NIC{
						{Name: "eth0", MAC: fmt.Sprintf("02:00:%02x:%02x:%02x:00", mi, si, di), Link: &v1alpha1.PortLink{Switch: "sw0", Port: int32(di + 1)}},
					}}},
				})
			}
			m.Spec.Shelves = append(m.Spec.Shelves, sh)
			switches = append(switches, fmt.Sprintf("%s/%s/sw0", m.Name, sh.Name))
		}
		ms = append(ms, m)
		refs = append(refs, v1alpha1.LocalObjectReference{Name: m.Name})
	}
	net := &v1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}, Spec: v1alpha1.NetworkSpec{
		Networks: []v1alpha1.IPNetwork{{Name: "internal", CIDR: "198.18.0.0/15", NodeIDBits: 14, Switches: switches, Provisioning: true}},
	}}
	c := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "hpc"}, Spec: v1alpha1.ClusterSpec{
		Domain: 1, MachineRefs: refs, NetworkRef: &v1alpha1.LocalObjectReference{Name: "net"},
	}}
	var groups []v1alpha1.NodesGroup
	for k := range nodes {
		if k%100 == 0 {
			role := v1alpha1.RoleNonMasterEligible
			if k == 0 {
				role = v1alpha1.RoleMasterEligible
			}
			groups = append(groups, v1alpha1.NodesGroup{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("g%03d", k/100)}, Spec: v1alpha1.NodesGroupSpec{
				ClusterRef: v1alpha1.LocalObjectReference{Name: "hpc"}, Role: role, NodeType: v1alpha1.NodeTypeDiskfull,
				OS: v1alpha1.OSSpec{Name: "debian", Version: "13"}, Arch: "amd64",
			}})
		}
		g := &groups[len(groups)-1]
		d := k % 128
		g.Spec.Nodes = append(g.Spec.Nodes, v1alpha1.Node{
			Name: fmt.Sprintf("n%05d", k+1), ID: int32(k + 1),
			Drawer: fmt.Sprintf("rack%d/shelf%d/d%d", k/128, d/16, d%16),
		})
	}
	return Input{Cluster: c, Groups: groups, Machines: ms, Network: net}
}

func TestBigSiteIsCompleteAndValid(t *testing.T) {
	res := Resolve(bigSite(10000, 80))
	clean(t, res)
	if res.Counts.Placed != 10000 || res.Counts.Addressed != 10000 || !res.Steps.Deployable {
		t.Fatalf("counts %+v deployable %v", res.Counts, res.Steps.Deployable)
	}
}

// TestResolveGrowsLinearlyWithTheSite: five times the nodes and Machines cost about five
// times the time (a loop over nodes inside a loop over nodes or switches would make it 25).
// The bound is a ratio of runs on the same machine, never an absolute time. Each run is
// timed in CPU time of the process (user and system), not wall time, which on a shared
// machine measures the other work too; the runs of the two sizes alternate, each from a
// collected heap, and the cheapest of each counts.
func TestResolveGrowsLinearlyWithTheSite(t *testing.T) {
	if testing.Short() {
		t.Skip("times resolutions")
	}
	small, large := bigSite(2000, 16), bigSite(10000, 80)
	timed := func(in Input) time.Duration {
		runtime.GC()
		start := cpuTime(t)
		Resolve(in)
		return cpuTime(t) - start
	}
	timed(small) // warm up
	s, l := time.Duration(1<<63-1), time.Duration(1<<63-1)
	for range 7 {
		s, l = min(s, timed(small)), min(l, timed(large))
	}
	ratio := float64(l) / float64(s)
	t.Logf("2,000 nodes over 16 Machines: %v; 10,000 over 80: %v; ratio %.1f (linear 5, quadratic 25)", s, l, ratio)
	if ratio > 12 {
		t.Fatalf("5x the site costs %.0fx the time: Resolve is not linear in the size of the site", ratio)
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkResolve10000NodesOver80Machines is P5's site resolved once: 100 groups of 100
// nodes over 80 full Machines.
func BenchmarkResolve10000NodesOver80Machines(b *testing.B) {
	in := bigSite(10000, 80)
	b.ReportAllocs()
	for b.Loop() {
		Resolve(in)
	}
}

// BenchmarkResolveSiteOfTwo10000NodeClusters checks the rules across a site of two such
// clusters, resolved beforehand, that do not collide: the cost of a site that is right.
func BenchmarkResolveSiteOfTwo10000NodeClusters(b *testing.B) {
	a, c := bigSite(10000, 80), bigSite(10000, 80)
	a.Cluster.Spec.InstallServer.Site, c.Cluster.Spec.InstallServer.Site = "dc1", "dc1"
	c.Cluster.Name, c.Cluster.Spec.Domain = "hpc2", 2
	for _, m := range c.Machines {
		for si := range m.Spec.Shelves {
			for di := range m.Spec.Shelves[si].Drawers {
				nic := &m.Spec.Shelves[si].Drawers[di].Boards[0].NICs[0]
				nic.MAC = "06" + nic.MAC[2:]
			}
		}
	}
	for gi := range c.Groups {
		for ni := range c.Groups[gi].Spec.Nodes {
			c.Groups[gi].Spec.Nodes[ni].Name = "x" + c.Groups[gi].Spec.Nodes[ni].Name
		}
	}
	members := []SiteMember{{a.Cluster, Resolve(a)}, {c.Cluster, Resolve(c)}}
	if ps := ResolveSite("dc1", members); len(ps) != 0 {
		b.Fatalf("the two clusters collide: %d problems, first %s", len(ps), ps[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		ResolveSite("dc1", members)
	}
}
