package installserver_test

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/dhcp"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/installserver"
)

var testBoot = installserver.BootConfig{
	ServerURL: "http://198.18.0.1:8080", BIOS: "undionly.kpxe", UEFI: "ipxe.efi", HTTPBootX64: "ipxe.efi",
	Kernel: "vmlinuz", Initramfs: "initramfs.img", Args: []string{"console=ttyS0,115200n8"},
	DNS: []netip.Addr{netip.MustParseAddr("198.18.0.1")}, Domain: "edge.example",
}

var testSecret = []byte("the site secret of the tests")

func TestSiteServesEveryPlacedNodeOfTheSampleSite(t *testing.T) {
	s := loadSamples(t, "default")
	site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(site.Skipped) != 0 {
		t.Fatalf("skipped: %q", site.Skipped)
	}
	if _, err := dhcp.New(dhcp.Config{ServerAddr: netip.MustParseAddr("198.18.0.1")}, site.Table); err != nil {
		t.Fatalf("the DHCP server refuses the table: %v", err)
	}
	if got := len(site.Table.Nodes); got != 8 {
		t.Fatalf("%d nodes in the DHCP table, want the sample's 8", got)
	}
	m1, ok := site.Node(agentapi.NodeRef{Namespace: "default", Cluster: "edge", Node: "m1"})
	if !ok {
		t.Fatal("m1 not served")
	}
	if m1.Address.String() != "198.18.7.1/16" || m1.MAC != "52:54:00:fc:00:10" || m1.Group != "masters" {
		t.Fatalf("m1: %+v", m1)
	}
	var dn = site.Table.Nodes[0]
	for _, n := range site.Table.Nodes {
		if n.Name == "m1" {
			dn = n
		}
	}
	if dn.Hostname != "m1" || dn.Domain != "edge.example" || dn.Boot.BIOS != "undionly.kpxe" || dn.Boot.UEFI != "ipxe.efi" ||
		dn.Boot.IPXEScript != "http://198.18.0.1:8080/ipxe/m1" || dn.Boot.HTTPBootX64 != "http://198.18.0.1:8080/boot/ipxe.efi" ||
		len(dn.Routers) != 0 || len(dn.MACs) != 1 || dn.MACs[0].String() != "52:54:00:fc:00:10" {
		t.Fatalf("m1's lease: %+v", dn)
	}
	// The provisioning NIC eth0 of m1 is on port 1 of edge-rack1/shelf0/sw0.
	var ports []string
	for _, p := range site.Table.Ports {
		if p.Node == "m1" {
			ports = append(ports, p.CircuitID+"|"+p.RemoteID)
		}
	}
	if strings.Join(ports, " ") != "edge-rack1/shelf0/sw0/1| 1|edge-rack1/shelf0/sw0" {
		t.Fatalf("m1's ports: %q", ports)
	}
	body, err := m1.Script.Render()
	if err != nil {
		t.Fatal(err)
	}
	tok := installplan.Token(testSecret, "default", "edge", "m1")
	for _, want := range []string{"initrd=initramfs.img", "flarecast.node=m1", "flarecast.namespace=default", "flarecast.cluster=edge",
		"flarecast.token=" + tok, "flarecast.server=http://198.18.0.1:8080", "console=ttyS0,115200n8"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("m1's script lacks %q:\n%s", want, body)
		}
	}
	if got, ok := site.Tokens.Holder(tok); !ok || got.Node != "m1" {
		t.Fatalf("token of m1 held by %v %v", got, ok)
	}
	if _, ok := site.Node(agentapi.NodeRef{Namespace: "other", Cluster: "edge", Node: "m1"}); ok {
		t.Fatal("m1 served under another namespace")
	}
}

func TestSiteLeavesOutWhatItCannotServe(t *testing.T) {
	s := loadSamples(t, "default")
	// n8 loses its drawer: not placed, so not served; the others stay.
	for _, g := range s.Groups {
		for i := range g.Spec.Nodes {
			if g.Spec.Nodes[i].Name == "n8" {
				g.Spec.Nodes[i].Drawer = ""
			}
		}
	}
	site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := site.ByName("n8"); ok || len(site.Table.Nodes) != 7 {
		t.Fatalf("n8 served, or others lost: %d nodes", len(site.Table.Nodes))
	}
	if len(site.Skipped) != 1 || !strings.Contains(site.Skipped[0], "node n8 of Cluster edge: not placed") {
		t.Fatalf("skipped: %q", site.Skipped)
	}

	// A cluster whose model breaks a rule is not served at all.
	bad := loadSamples(t, "default")
	bad.Groups[0].Spec.Nodes[1].ID = bad.Groups[0].Spec.Nodes[0].ID
	site, err = installserver.BuildSite([]installserver.Member{bad.resolve()}, testBoot, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if len(site.Table.Nodes) != 0 || len(site.Skipped) != 1 || !strings.Contains(site.Skipped[0], "Cluster edge: its model breaks") {
		t.Fatalf("an invalid cluster is served: %d nodes, skipped %q", len(site.Table.Nodes), site.Skipped)
	}
	if _, ok := site.Tokens.Holder(installplan.Token(testSecret, "default", "edge", "m1")); ok {
		t.Fatal("a node not served has a known token")
	}
}

func TestBIOSNodesGetNoInitrdArgument(t *testing.T) {
	s := loadSamples(t, "default")
	for _, m := range s.Machines {
		for i := range m.Spec.Shelves[0].Drawers {
			for j := range m.Spec.Shelves[0].Drawers[i].Boards {
				m.Spec.Shelves[0].Drawers[i].Boards[j].Firmware = fcv1.Firmware("BIOS")
			}
		}
	}
	site, _ := installserver.BuildSite([]installserver.Member{s.resolve()}, testBoot, testSecret)
	n, ok := site.ByName("m1")
	if !ok {
		t.Fatal("m1 not served")
	}
	body, err := n.Script.Render()
	if err != nil || strings.Contains(string(body), "initrd=") {
		t.Fatalf("BIOS script: %v\n%s", err, body)
	}
}

// TestDisklessNodesAreToldTheirRoot: the nodes of the sample's Diskless group get
// flarecast.nfsroot= with the group's export, the others none, and the site lists the group.
func TestDisklessNodesAreToldTheirRoot(t *testing.T) {
	s := loadSamples(t, "default")
	boot := testBoot
	boot.NFSServer, boot.NFSPort = netip.MustParseAddr("198.18.0.1"), 2049
	site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, boot, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := site.DisklessGroups(); len(got) != 1 || got[0] != (installserver.DisklessGroup{Namespace: "default", Cluster: "edge", Group: "diskless"}) {
		t.Fatalf("diskless groups: %+v", got)
	}
	for _, n := range site.Nodes() {
		body, err := n.Script.Render()
		if err != nil {
			t.Fatal(err)
		}
		has := strings.Contains(string(body), installplan.ArgNFSRoot+"=198.18.0.1:2049:/flarecast/default/diskless ")
		if has != (n.Group == "diskless") || strings.Count(string(body), installplan.ArgNFSRoot) > 1 || n.Diskless != (n.Group == "diskless") {
			t.Errorf("node %s of group %s: nfsroot argument %v, diskless %v:\n%s", n.Ref.Node, n.Group, has, n.Diskless, body)
		}
	}
}

// TestGroupsChooseTheirExports: a RAM root group is told no NFS root and gets no tree; a
// group with Persistent writes gets one read-write export per node, for that node's address
// alone; the install server's shared data is exported to the group's nodes only, and an
// external one not at all.
func TestGroupsChooseTheirExports(t *testing.T) {
	boot := testBoot
	boot.NFSServer, boot.NFSPort = netip.MustParseAddr("198.18.0.1"), 2049
	build := func(edit func(dl, dataless *fcv1.NodesGroup)) (*installserver.Site, installserver.Wanted) {
		t.Helper()
		s := loadSamples(t, "default")
		var dl, da *fcv1.NodesGroup
		for _, g := range s.Groups {
			switch g.Name {
			case "diskless":
				dl = g
			case "dataless":
				da = g
			}
		}
		edit(dl, da)
		site, err := installserver.BuildSite([]installserver.Member{s.resolve()}, boot, testSecret)
		if err != nil {
			t.Fatal(err)
		}
		roots := []installserver.DisklessExport{}
		for _, g := range site.DisklessGroups() {
			roots = append(roots, installserver.DisklessExport{Namespace: g.Namespace, Cluster: g.Cluster, Group: g.Group, Digest: "sha256:" + strings.Repeat("a", 64)})
		}
		return site, installserver.WantedExports(site, roots)
	}

	site, w := build(func(dl, _ *fcv1.NodesGroup) {
		dl.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootRAM, Writes: fcv1.DisklessWritesTmpfs}
	})
	if len(site.DisklessGroups()) != 0 || len(w.Roots) != 0 || len(w.Nodes) != 0 {
		t.Errorf("a RAM root group wants exports: groups %+v, wanted %+v", site.DisklessGroups(), w)
	}
	n5, _ := site.ByName("n5")
	if body, _ := n5.Script.Render(); strings.Contains(string(body), installplan.ArgNFSRoot) || n5.Root != installplan.RootRAM {
		t.Errorf("n5 of a RAM root group: root %q, script\n%s", n5.Root, body)
	}
	wantData := []installserver.SharedDataExport{{Namespace: "default", Group: "dataless", Name: "shared",
		Clients: []netip.Addr{netip.MustParseAddr("198.18.7.3"), netip.MustParseAddr("198.18.7.4")}}}
	if !reflect.DeepEqual(w.Data, wantData) {
		t.Errorf("shared data wanted %+v, want %+v", w.Data, wantData)
	}

	_, w = build(func(dl, da *fcv1.NodesGroup) {
		dl.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootNFS, Writes: fcv1.DisklessWritesPersistent}
		da.Spec.SharedData = []fcv1.SharedData{{Name: "home", MountPoint: "/home", NFS: &fcv1.NFSSource{Server: "198.18.9.9", Path: "/home"}}}
	})
	var nodes []string
	for _, n := range w.Nodes {
		nodes = append(nodes, n.Node+"@"+n.Address.String()+" "+n.Path())
	}
	want := []string{"n5@198.18.7.5 /flarecast/default/diskless/nodes/n5", "n6@198.18.7.6 /flarecast/default/diskless/nodes/n6",
		"n7@198.18.7.7 /flarecast/default/diskless/nodes/n7", "n8@198.18.7.8 /flarecast/default/diskless/nodes/n8"}
	if !slices.Equal(nodes, want) || len(w.Roots) != 1 {
		t.Errorf("Persistent writes want %v (roots %+v), want %v", nodes, w.Roots, want)
	}
	if len(w.Data) != 0 {
		t.Errorf("an external shared data export is served here: %+v", w.Data)
	}
}
