package model

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

// TestDocsQuoteTheMessagesTheModelGives checks that every problem line quoted in docs/model.md
// ("Kind/name: field: message") is one that a variation of the test site produces, word for word,
// that a "Reason: `X`" line after it gives its reason, and that the docs list every reason.
func TestDocsQuoteTheMessagesTheModelGives(t *testing.T) {
	type sc struct {
		name string
		f    func(in *Input)
	}
	str := func(s string) *string { return &s }
	scs := []sc{
		{"diskless-me", func(in *Input) { group(*in, "workers").Spec.Role = v1alpha1.RoleMasterEligible }},
		{"dataless-me", func(in *Input) { group(*in, "dataless").Spec.Role = v1alpha1.RoleMasterEligible }},
		{"diskless-reqfs", func(in *Input) {
			group(*in, "workers").Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/data"}}
		}},
		{"id-in-group", func(in *Input) { group(*in, "masters").Spec.Nodes[1].ID = 1 }},
		{"diskless-on-dataless", func(in *Input) {
			group(*in, "dataless").Spec.Diskless = &v1alpha1.DisklessSpec{Root: v1alpha1.DisklessRootRAM}
		}},
		{"ram-persistent", func(in *Input) {
			group(*in, "workers").Spec.Diskless = &v1alpha1.DisklessSpec{Root: v1alpha1.DisklessRootRAM, Writes: v1alpha1.DisklessWritesPersistent}
		}},
		{"shared-on-diskfull", func(in *Input) {
			group(*in, "masters").Spec.SharedData = []v1alpha1.SharedData{{Name: "home", MountPoint: "/home"}}
		}},
		{"shared-twice", func(in *Input) {
			group(*in, "workers").Spec.SharedData = []v1alpha1.SharedData{{Name: "home", MountPoint: "/home"}, {Name: "users", MountPoint: "/home"}}
		}},
		{"shared-required", func(in *Input) {
			g := group(*in, "dataless")
			g.Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/srv"}}
			g.Spec.SharedData = []v1alpha1.SharedData{{Name: "srv", MountPoint: "/srv"}}
		}},
		{"shared-hides", func(in *Input) {
			group(*in, "dataless").Spec.SharedData = []v1alpha1.SharedData{{Name: "spool", MountPoint: "/var"}}
		}},
		{"id-cluster", func(in *Input) { group(*in, "workers").Spec.Nodes[0].ID = 3 }},
		{"name-cluster", func(in *Input) { group(*in, "workers").Spec.Nodes[0].Name = "m1" }},
		{"one-master", func(in *Input) { g := group(*in, "masters"); g.Spec.Nodes = g.Spec.Nodes[:1] }},
		{"one-master-warn", func(in *Input) {
			g := group(*in, "masters")
			g.Spec.Nodes = g.Spec.Nodes[:1]
			in.Cluster.Spec.MasterEligiblePolicy = v1alpha1.MasterEligibleWarn
		}},
		{"services", func(in *Input) { group(*in, "workers").Spec.Services = []string{"rbs"} }},
		{"no-drawer", func(in *Input) { group(*in, "workers").Spec.Nodes[0].Drawer = "" }},
		{"drawer-absent", func(in *Input) { group(*in, "workers").Spec.Nodes[0].Drawer = "shelf0/d9" }},
		{"drawer-twice", func(in *Input) { group(*in, "workers").Spec.Nodes[0].Drawer = "shelf0/d3" }},
		{"no-board", func(in *Input) { drawerOf(*in, "d4").Boards = nil }},
		{"arch", func(in *Input) { drawerOf(*in, "d4").Boards[0].Arch = "arm64" }},
		{"no-root", func(in *Input) { drawerOf(*in, "d2").Disks[0].Slices[0].Filesystem.MountPoint = "/srv" }},
		{"reqfs-absent", func(in *Input) {
			group(*in, "masters").Spec.RequiredFilesystems = []v1alpha1.RequiredFilesystem{{MountPoint: "/data"}}
		}},
		{"reqfs-small", func(in *Input) { group(*in, "masters").Spec.RequiredFilesystems[0].MinSize = "60Gi" }},
		{"slices-sum", func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[2].Size = str("70Gi") }},
		{"rest-twice", func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[1].Size = nil }},
		{"rest-empty", func(in *Input) { drawerOf(*in, "d1").Disks[0].Size = "48Gi" }},
		{"index", func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[2].Index = 1 }},
		{"mount-twice", func(in *Input) { drawerOf(*in, "d1").Disks[0].Slices[2].Filesystem.MountPoint = "/" }},
		{"switch", func(in *Input) { drawerOf(*in, "d2").Boards[0].NICs[0].Link.Switch = "sw7" }},
		{"port-beyond", func(in *Input) { drawerOf(*in, "d2").Boards[0].NICs[0].Link.Port = 25 }},
		{"port-twice", func(in *Input) { drawerOf(*in, "d2").Boards[0].NICs[0].Link.Port = 1 }},
		{"mac", func(in *Input) { drawerOf(*in, "d3").Boards[0].NICs[0].MAC = "02:00:00:00:00:01" }},
		{"no-prov-nic", func(in *Input) { drawerOf(*in, "d3").Boards[0].NICs[0].Link = nil }},
		{"prov-no-switches", func(in *Input) { in.Network.Spec.Networks[0].Switches = nil }},
		{"net-switch", func(in *Input) {
			in.Network.Spec.Networks[0].Switches = append(in.Network.Spec.Networks[0].Switches, "shelf1/sw0")
		}},
		{"overlap", func(in *Input) { addNetwork(*in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.18.64.0/18"}) }},
		{"two-prov", func(in *Input) {
			addNetwork(*in, v1alpha1.IPNetwork{Name: "storage", CIDR: "198.19.0.0/16", Provisioning: true, Switches: []string{"shelf0/sw0"}})
		}},
		{"router-outside", func(in *Input) { in.Network.Spec.Routers[0].Address = "198.19.0.1" }},
		{"domain", func(in *Input) { in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24" }},
		{"id-bits", func(in *Input) { group(*in, "workers").Spec.Nodes[0].ID = 256 }},
		{"outside", func(in *Input) {
			in.Cluster.Spec.Domain = 0
			in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24"
			in.Network.Spec.Networks[0].NodeIDBits = 10
			in.Network.Spec.Routers[0].Address = "198.18.0.254"
			group(*in, "workers").Spec.Nodes[0].ID = 300
		}},
		{"broadcast", func(in *Input) {
			in.Cluster.Spec.Domain = 0
			in.Network.Spec.Networks[0].CIDR = "198.18.0.0/24"
			in.Network.Spec.Routers[0].Address = "198.18.0.254"
			group(*in, "workers").Spec.Nodes[0].ID = 255
		}},
		{"router-derived", func(in *Input) { in.Network.Spec.Routers[0].Address = "198.18.3.4" }},
		{"explicit-derived", func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.3.4"}}
		}},
		{"explicit-outside", func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "w4", Network: "internal", IP: "198.19.0.7"}}
		}},
		{"explicit-twice", func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.9.9"}, {Node: "m2", Network: "internal", IP: "198.18.9.9"}}
		}},
		{"explicit-node", func(in *Input) {
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "n9", Network: "internal", IP: "198.18.9.9"}}
		}},
		{"static", func(in *Input) {
			in.Network.Spec.Networks[0].Addressing = v1alpha1.AddressingStatic
			in.Network.Spec.Addresses = []v1alpha1.Address{{Node: "m1", Network: "internal", IP: "198.18.0.11"}, {Node: "m2", Network: "internal", IP: "198.18.0.12"}, {Node: "n3", Network: "internal", IP: "198.18.0.13"}}
		}},
		{"no-network", func(in *Input) { in.Cluster.Spec.NetworkRef = nil; in.Network = nil }},
		{"no-machine", func(in *Input) { in.Cluster.Spec.MachineRefs = nil; in.Machines = nil }},
		{"not-found", func(in *Input) { in.Machines = nil }},
		{"no-groups", func(in *Input) { in.Groups = nil }},
		{"no-nodes", func(in *Input) { group(*in, "workers").Spec.Nodes = nil }},
		{"interface", func(in *Input) {
			b := &drawerOf(*in, "d1").Boards[0]
			b.NICs = append(b.NICs, v1alpha1.NIC{Name: "eth1", MAC: "02:00:00:00:01:01", Link: &v1alpha1.PortLink{Switch: "sw0", Port: 11}})
			in.Network.Spec.Networks[0].Interface = "eth1"
		}},
	}

	// The site over two Machines, rack1 and rack2.
	scs = append(scs, []sc{
		{"racks-short-drawer", func(in *Input) { *in = racks(); group(*in, "workers").Spec.Nodes[0].Drawer = "shelf0/d2" }},
		{"racks-other-machine", func(in *Input) { *in = racks(); group(*in, "workers").Spec.Nodes[0].Drawer = "rack9/shelf0/d2" }},
		{"racks-drawer-twice", func(in *Input) { *in = racks(); group(*in, "workers").Spec.Nodes[0].Drawer = "rack2/shelf0/d1" }},
		{"racks-mac", func(in *Input) {
			*in = racks()
			rackDrawer(*in, "rack2", "d2").Boards[0].NICs[0].MAC = "02:00:00:00:00:01"
		}},
		{"racks-short-switch", func(in *Input) {
			*in = racks()
			in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0", "shelf0/sw0"}
		}},
		{"racks-other-switch", func(in *Input) {
			*in = racks()
			in.Network.Spec.Networks[0].Switches = []string{"rack1/shelf0/sw0", "rack2/shelf0/sw0", "rack9/shelf0/sw0"}
		}},
		{"deleting", func(in *Input) {
			now := metav1.Now()
			in.Machines[0].DeletionTimestamp, in.Network.DeletionTimestamp = &now, &now
			in.Machines[0].Finalizers, in.Network.Finalizers = []string{"flarecast.io/in-use"}, []string{"flarecast.io/in-use"}
		}},
	}...)

	produced := map[string]Reason{}
	// The site dc1 of two clusters, edge and core.
	for _, f := range []func(edge, core *Input){
		func(_, core *Input) {
			core.Machines[0].Spec.Shelves[0].Drawers[2].Boards[0].NICs[0].MAC = "02:00:00:00:00:01"
		},
		func(_, core *Input) { core.Cluster.Spec.Domain = 3 },
		func(_, core *Input) { group(*core, "workers").Spec.Nodes[0].Name = "m1" },
		func(_, core *Input) { core.Cluster.Spec.InstallServer.Interface = "eth1" },
	} {
		edge, core := twoClusters()
		f(&edge, &core)
		for _, p := range resolveSite(edge, core) {
			produced[p.String()] = p.Reason
		}
	}
	for _, s := range scs {
		in := site()
		s.f(&in)
		r := Resolve(in)
		for _, list := range [][]Problem{r.Problems, r.Warnings, r.Missing} {
			for _, p := range list {
				produced[p.String()] = p.Reason
			}
		}
	}
	f, err := os.Open("../../docs/model.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	quoted := 0
	// pending is the last quoted line until a "Reason: `X`" line names its reason.
	var pending string
	tabled := map[Reason]bool{}
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if m := docReasonLine.FindStringSubmatch(line); m != nil {
			if pending != "" && Reason(m[1]) != produced[pending] {
				t.Errorf("docs/model.md gives reason %s for a message whose reason is %s:\n%s", m[1], produced[pending], pending)
			}
			pending = ""
		}
		if m := docReasonRow.FindStringSubmatch(line); m != nil {
			tabled[Reason(m[1])] = true
		}
		for _, kind := range []string{KindCluster, KindNodesGroup, KindMachine, KindNetwork} {
			if !strings.HasPrefix(line, kind+"/") {
				continue
			}
			quoted++
			reason, ok := produced[line]
			if !ok {
				t.Errorf("docs/model.md quotes a message the model does not give:\n%s", line)
			}
			if pending != "" && produced[pending] != reason {
				t.Errorf("docs/model.md names no reason after (want \"Reason: `%s`\"):\n%s", produced[pending], pending)
			}
			pending = line
		}
	}
	if pending != "" {
		t.Errorf("docs/model.md names no reason after (want \"Reason: `%s`\"):\n%s", produced[pending], pending)
	}
	if quoted < 40 {
		t.Errorf("only %d messages quoted in docs/model.md", quoted)
	}
	for name, r := range declaredReasons(t) {
		if !tabled[Reason(r.value)] {
			t.Errorf("the table of reasons in docs/model.md lacks %s (%s)", r.value, name)
		}
	}
}

var (
	// docReasonLine follows a quoted message: "Reason: `DrawerNotFound`".
	docReasonLine = regexp.MustCompile("^Reason: `([A-Za-z]+)`")
	// docReasonRow is a row of the table of reasons: "| `DrawerNotFound` | ...".
	docReasonRow = regexp.MustCompile("^\\| `([A-Za-z]+)` \\|")
)
