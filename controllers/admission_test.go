package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/cli"
)

// TestCELRulesRejectBadObjectsAtAdmission proves each rule one object can check is enforced by
// the API server itself, with a message that names the entry by key, the value that broke the
// rule and what to do, and that nothing is stored.
func TestCELRulesRejectBadObjectsAtAdmission(t *testing.T) {
	ns := newNamespace(t)
	site := readManifests(t, sampleSite...)
	pick := func(kind, name string) client.Object {
		for _, o := range site {
			if kindName(o) == kind && o.GetName() == name {
				c := o.DeepCopyObject().(client.Object)
				c.SetNamespace(ns)
				return c
			}
		}
		t.Fatalf("no %s %s in the samples", kind, name)
		return nil
	}
	cases := []struct {
		name   string
		obj    func() client.Object
		errHas string
	}{
		{"DisklessGroupCannotBeMasterEligible", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Role = fcv1.RoleMasterEligible
			return g
		}, "spec: Invalid value: role: a Diskless group cannot be MasterEligible, since diskless nodes are never master-eligible: set role: NonMasterEligible, or nodeType: Diskfull if its nodes have a disk"},
		{"DatalessGroupCannotBeMasterEligible", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.Role = fcv1.RoleMasterEligible
			return g
		}, "spec: Invalid value: role: a Dataless group cannot be MasterEligible, since a dataless node is a non-master-eligible diskfull node: set role: NonMasterEligible, or nodeType: Diskfull"},
		{"DisklessChoiceOnAGroupThatIsNotDiskless", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootRAM}
			return g
		}, "spec: Invalid value: diskless: only a Diskless group chooses a network root and where its writes go: remove diskless, or set nodeType: Diskless"},
		{"PersistentWritesOnARAMRoot", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Diskless = &fcv1.DisklessSpec{Root: fcv1.DisklessRootRAM, Writes: fcv1.DisklessWritesPersistent}
			return g
		}, "spec.diskless: Invalid value: writes: a RAM root lives in the node's memory and has no export to keep writes in: set writes: Tmpfs, or root: NFS for writes that persist"},
		{"SharedDataOnADiskfullGroup", func() client.Object {
			g := pick("NodesGroup", "masters").(*fcv1.NodesGroup)
			g.Spec.SharedData = []fcv1.SharedData{{Name: "home", MountPoint: "/home"}}
			return g
		}, "spec: Invalid value: sharedData: a Diskfull group keeps its data on its own disks, and a group that mounts data shared over the network is Dataless: set nodeType: Dataless, or remove sharedData"},
		{"SharedDataAtTheRoot", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.SharedData[0].MountPoint = "/"
			return g
		}, "mountPoint: shared data cannot be mounted at /, which holds the node's own system: choose a directory such as /data"},
		{"SharedDataMountPointWithADotDot", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.SharedData[0].MountPoint = "/srv/../etc"
			return g
		}, "mountPoint: a mount point is a clean absolute path, without . or .. components"},
		{"SharedDataMountPointRelative", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.SharedData[0].MountPoint = "srv"
			return g
		}, "spec.sharedData[0].mountPoint: Invalid value: \"srv\": spec.sharedData[0].mountPoint in body should match"},
		{"TwoSharedDataOfOneName", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.SharedData = append(g.Spec.SharedData, fcv1.SharedData{Name: "shared", MountPoint: "/other"})
			return g
		}, "spec.sharedData[1]: Duplicate value: {\"name\":\"shared\"}"},
		{"TwoSharedDataAtOneMountPoint", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.SharedData = append(g.Spec.SharedData, fcv1.SharedData{Name: "other", MountPoint: g.Spec.SharedData[0].MountPoint})
			return g
		}, "spec.sharedData: Invalid value: sharedData[other].mountPoint: /shared is already the mount point of sharedData[shared]: give each its own mount point"},
		{"SharedDataAtARequiredFilesystem", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.RequiredFilesystems = append(g.Spec.RequiredFilesystems, fcv1.RequiredFilesystem{MountPoint: "/shared"})
			return g
		}, "spec: Invalid value: sharedData[shared].mountPoint: /shared is also a required local file system of the group (requiredFilesystems): mount the shared data elsewhere, or drop the required file system"},
		{"DuplicateNodeIDsInAGroup", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Nodes[1].ID = g.Spec.Nodes[0].ID
			return g
		}, "spec: Invalid value: nodes[n6].id: node id 5 is already the id of node n5 of this group: give each node of the cluster its own id"},
		{"TwoNodesOfAGroupOnOneDrawer", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Nodes[1].Drawer = g.Spec.Nodes[0].Drawer
			return g
		}, "spec: Invalid value: nodes[n6].drawer: drawer edge-rack1/shelf0/d3 already runs node n5 of this group: put each node on its own drawer"},
		{"PortBeyondItsSwitch", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].Link.Port = 25
			return m
		}, "spec.shelves[0]: Invalid value: drawers[d1].boards[cpu0].nics[eth0].link.port: port 25 is beyond the 24 ports of switch shelf0/sw0: use a port from 1 to 24"},
		{"LinkToASwitchOfAnotherShelf", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].Link.Switch = "sw9"
			return m
		}, "spec.shelves[0]: Invalid value: drawers[d1].boards[cpu0].nics[eth0].link.switch: switch sw9 is not a switch of shelf shelf0: cable the NIC to one of its switches (sw0)"},
		{"SliceLargerThanItsDisk", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			big := "1Ti"
			m.Spec.Shelves[0].Drawers[0].Disks[0].Slices[1].Size = &big
			return m
		}, "spec.shelves[0].drawers[0].disks[0]: Invalid value: slices[root].size: slice root (1Ti) is larger than disk disk0 (480Gi): shrink the slice or correct the disk's size"},
		{"SlicesAddUpToMoreThanTheDisk", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			s := "410Gi" // 512Mi + 64Gi + 410Gi + 8Gi > 480Gi
			m.Spec.Shelves[0].Drawers[0].Disks[0].Slices[2].Size = &s
			return m
		}, "spec.shelves[0].drawers[0].disks[0]: Invalid value: slices: the slices of disk disk0 add up to 494080Mi, more than its 480Gi: shrink a slice or correct the disk's size"},
		{"DuplicateMACsOnABoard", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			nics := m.Spec.Shelves[0].Drawers[0].Boards[0].NICs
			nics[1].MAC = nics[0].MAC
			return m
		}, "spec.shelves[0].drawers[0].boards[0]: Invalid value: nics[eth1].mac: MAC 52:54:00:fc:00:10 is already the MAC of NIC eth0 of board cpu0: MAC addresses must be unique in the Machine"},
		{"DiskSerialWithAControlCharacter", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Disks[0].Serial = "S3EV\nX0"
			return m
		}, "spec.shelves[0].drawers[0].disks[0].serial: Invalid value: \"S3EV\\nX0\": spec.shelves[0].drawers[0].disks[0].serial in body should match"},
		{"DiskBusPathWithAnEmptySegmentAndASpace", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Disks[0].BusPath = "pci0000:00//virtio 1"
			return m
		}, "spec.shelves[0].drawers[0].disks[0].busPath: Invalid value: \"pci0000:00//virtio 1\": spec.shelves[0].drawers[0].disks[0].busPath in body should match"},
		{"MalformedMAC", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:FC:00:ZZ"
			return m
		}, "spec.shelves[0].drawers[0].boards[0].nics[0].mac: Invalid value: \"52:54:00:FC:00:ZZ\": MAC 52:54:00:FC:00:ZZ is not six two-digit hex octets separated by colons: write it like 02:00:00:00:00:01"},
		{"MACOfSevenOctets", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:fc:00:10:01"
			return m
		}, "spec.shelves[0].drawers[0].boards[0].nics[0].mac: Invalid value: \"52:54:00:fc:00:10:01\": MAC 52:54:00:fc:00:10:01 has 7 octets, not six: write six two-digit hex octets separated by colons, like 02:00:00:00:00:01"},
		{"AddressOutsideItsCIDR", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Addresses[0].IP = "198.20.0.1"
			return n
		}, "spec: Invalid value: addresses[m1,external].ip: 198.20.0.1 is outside network external (198.19.0.0/16): give node m1 an address inside it"},
		{"AddressGivenTwice", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Addresses[1].IP = n.Spec.Addresses[0].IP
			return n
		}, "spec: Invalid value: addresses[m2,external].ip: 198.19.100.1 is already the address of node m1: give each node its own address"},
		{"RouterOutsideItsNetwork", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Routers[0].Address = "198.18.0.1"
			return n
		}, "spec: Invalid value: networks[external].router: router edge-gw (198.18.0.1) is outside the network's 198.19.0.0/16: choose a router inside it"},
		{"CIDRWithHostBits", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Networks[0].CIDR = "198.18.0.1/16"
			return n
		}, "spec.networks[0]: Invalid value: cidr: 198.18.0.1/16 has host bits set: write its network address, 198.18.0.0/16"},
		{"GenericArchiveWithoutSource", func() client.Object {
			a := pick("FlashArchive", "debian12-base").(*fcv1.FlashArchive)
			a.Spec.Source = nil
			return a
		}, "spec: Invalid value: source: a Generic archive is built from a source, and this one has none: set source, or make the archive Configured or Deployable"},
		{"ArchiveSourceWithTwoKinds", func() client.Object {
			a := pick("FlashArchive", "debian12-base").(*fcv1.FlashArchive)
			a.Spec.Source.Rootfs = &fcv1.RootfsSource{URL: "http://198.18.0.1/r.tar", Digest: "sha256:" + strings.Repeat("a", 64)}
			return a
		}, "spec.source: Invalid value: image, rootfs are set together: keep exactly one of image, rootfs, build, capture"},
		{"DeployableWithoutItsCluster", func() client.Object {
			return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "dep"), Spec: fcv1.FlashArchiveSpec{
				Type: fcv1.ArchiveDeployable, BaseRef: &fcv1.LocalObjectReference{Name: "debian12-base"}}}
		}, "spec: Invalid value: clusterRef: a Deployable archive is a base adapted to one group of one cluster, and this one has no clusterRef: set baseRef, clusterRef and nodesGroupRef"},
		{"ScriptSourceWithTwoKinds", func() client.Object {
			g := pick("NodesGroup", "masters").(*fcv1.NodesGroup)
			g.Spec.Configuration.Scripts[0].Source.ConfigMapKeyRef = &fcv1.KeyReference{Name: "cm", Key: "k"}
			return g
		}, "spec.configuration.scripts[0].source: Invalid value: configMapKeyRef, inline are set together: keep exactly one of configMapKeyRef, secretKeyRef, inline"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := tc.obj()
			// Each case gets its own name, so an object wrongly accepted by one case cannot
			// make another case look refused-but-stored.
			obj.SetName(strings.ToLower(tc.name))
			err := k8s.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("%s %s was accepted; want refusal containing %q", kindName(obj), obj.GetName(), tc.errHas)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("refusal %q does not contain %q", err.Error(), tc.errHas)
			}
			fresh := obj.DeepCopyObject().(client.Object)
			if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), fresh); err == nil {
				t.Fatalf("refused object was stored anyway")
			}
		})
	}
}

func kindName(o client.Object) string {
	gvk, err := apiutil.GVKForObject(o, cli.Scheme())
	if err != nil {
		return fmt.Sprintf("%T", o)
	}
	return gvk.Kind
}
