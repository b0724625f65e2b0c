package model

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// site is a valid, complete model: one shelf, one 24-port switch, four drawers; two
// master-eligible diskfull nodes, one dataless, one diskless; domain 3 on 198.18.0.0/16.
func site() Input {
	str := func(s string) *string { return &s }
	diskful := func(name string, port int32) v1alpha1.Drawer {
		return v1alpha1.Drawer{
			Name: name,
			Disks: []v1alpha1.Disk{{Name: "sda", Device: "/dev/sda", Size: "100Gi", Slices: []v1alpha1.Slice{
				{Name: "root", Index: 1, Size: str("40Gi"), Filesystem: &v1alpha1.Filesystem{Type: "ext4", MountPoint: "/"}},
				{Name: "swap", Index: 2, Size: str("8Gi"), Filesystem: &v1alpha1.Filesystem{Type: "swap"}},
				{Name: "var", Index: 3, Filesystem: &v1alpha1.Filesystem{Type: "xfs", MountPoint: "/var"}},
			}}},
			Boards: []v1alpha1.Board{{Name: "b0", Arch: "amd64", NICs: []v1alpha1.NIC{
				{Name: "eth0", MAC: fmt.Sprintf("02:00:00:00:00:%02x", port), Link: &v1alpha1.PortLink{Switch: "sw0", Port: port}},
			}}},
		}
	}
	d4 := diskful("d4", 4)
	d4.Disks = nil
	m := &v1alpha1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "site"}, Spec: v1alpha1.MachineSpec{Shelves: []v1alpha1.Shelf{{
		Name:     "shelf0",
		Switches: []v1alpha1.Switch{{Name: "sw0", Ports: 24}},
		Drawers:  []v1alpha1.Drawer{diskful("d1", 1), diskful("d2", 2), diskful("d3", 3), d4},
	}}}}
	n := &v1alpha1.Network{ObjectMeta: metav1.ObjectMeta{Name: "net"}, Spec: v1alpha1.NetworkSpec{
		Networks: []v1alpha1.IPNetwork{{Name: "internal", CIDR: "198.18.0.0/16", Router: "gw", Switches: []string{"shelf0/sw0"}, Provisioning: true}},
		Routers:  []v1alpha1.Router{{Name: "gw", Address: "198.18.0.1"}},
	}}
	c := &v1alpha1.Cluster{ObjectMeta: metav1.ObjectMeta{Name: "edge"}, Spec: v1alpha1.ClusterSpec{
		Domain:             3,
		MachineRefs:        []v1alpha1.LocalObjectReference{{Name: "site"}},
		NetworkRef:         &v1alpha1.LocalObjectReference{Name: "net"},
		FoundationServices: []v1alpha1.FoundationService{{Name: "cmm"}},
	}}
	group := func(name string, role v1alpha1.Role, typ v1alpha1.NodeType, nodes ...v1alpha1.Node) v1alpha1.NodesGroup {
		return v1alpha1.NodesGroup{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.NodesGroupSpec{
			ClusterRef: v1alpha1.LocalObjectReference{Name: "edge"}, Role: role, NodeType: typ,
			OS: v1alpha1.OSSpec{Name: "debian", Version: "13"}, Arch: "amd64", Nodes: nodes,
		}}
	}
	masters := group("masters", v1alpha1.RoleMasterEligible, v1alpha1.NodeTypeDiskfull,
		v1alpha1.Node{Name: "m1", ID: 1, Drawer: "shelf0/d1"}, v1alpha1.Node{Name: "m2", ID: 2, Drawer: "shelf0/d2"})
	masters.Spec.Services = []string{"cmm"}
	masters.Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/var", MinSize: "50Gi"}}
	return Input{
		Cluster:  c,
		Machines: []*v1alpha1.Machine{m},
		Network:  n,
		Groups: []v1alpha1.NodesGroup{
			masters,
			group("dataless", v1alpha1.RoleNonMasterEligible, v1alpha1.NodeTypeDataless, v1alpha1.Node{Name: "n3", ID: 3, Drawer: "shelf0/d3"}),
			group("workers", v1alpha1.RoleNonMasterEligible, v1alpha1.NodeTypeDiskless, v1alpha1.Node{Name: "w4", ID: 4, Drawer: "shelf0/d4"}),
		},
	}
}

// group returns the named group of the input, for a test to change.
func group(in Input, name string) *v1alpha1.NodesGroup {
	for i := range in.Groups {
		if in.Groups[i].Name == name {
			return &in.Groups[i]
		}
	}
	panic("no group " + name)
}

// drawerOf returns a drawer of shelf0.
func drawerOf(in Input, name string) *v1alpha1.Drawer {
	for i := range in.Machines[0].Spec.Shelves[0].Drawers {
		if in.Machines[0].Spec.Shelves[0].Drawers[i].Name == name {
			return &in.Machines[0].Spec.Shelves[0].Drawers[i]
		}
	}
	panic("no drawer " + name)
}

// only asserts that list holds exactly one problem, the wanted one (reason included: a case
// that names none fails), its message containing every substring.
func only(t *testing.T, what string, list []Problem, want Problem, substrings ...string) {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("%s: want exactly 1, got %d:\n%s", what, len(list), render(list))
	}
	got := list[0]
	if want.Reason == "" {
		t.Fatalf("%s: the test names no reason; the model gave %s", what, got.Reason)
	}
	if got.Kind != want.Kind || got.Name != want.Name || got.Field != want.Field || got.Node != want.Node || got.Reason != want.Reason {
		t.Fatalf("%s: got %s (node %q, reason %s), want %s/%s field %q node %q reason %s", what, got, got.Node, got.Reason, want.Kind, want.Name, want.Field, want.Node, want.Reason)
	}
	for _, s := range substrings {
		if !strings.Contains(got.Message, s) {
			t.Errorf("%s: message %q lacks %q", what, got.Message, s)
		}
	}
}

func render(list []Problem) string {
	var b strings.Builder
	for _, p := range list {
		fmt.Fprintf(&b, "  %s [node %s]\n", p, p.Node)
	}
	return b.String()
}

// valid resolves and asserts there are no problems, warnings or missing parts.
func clean(t *testing.T, res *Result) {
	t.Helper()
	if len(res.Problems)+len(res.Warnings)+len(res.Missing) > 0 {
		t.Fatalf("want a clean model, got problems:\n%swarnings:\n%smissing:\n%s", render(res.Problems), render(res.Warnings), render(res.Missing))
	}
}
