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
// the API server itself, with a message that names the field, and that nothing is stored.
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
		}, "role: a Diskless group cannot be MasterEligible"},
		{"DatalessGroupCannotBeMasterEligible", func() client.Object {
			g := pick("NodesGroup", "dataless").(*fcv1.NodesGroup)
			g.Spec.Role = fcv1.RoleMasterEligible
			return g
		}, "role: a Dataless group cannot be MasterEligible"},
		{"DuplicateNodeIDsInAGroup", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Nodes[1].ID = g.Spec.Nodes[0].ID
			return g
		}, "nodes[].id: node ids must be unique within the group"},
		{"TwoNodesOfAGroupOnOneDrawer", func() client.Object {
			g := pick("NodesGroup", "diskless").(*fcv1.NodesGroup)
			g.Spec.Nodes[1].Drawer = g.Spec.Nodes[0].Drawer
			return g
		}, "nodes[].drawer: two nodes of the group run on the same drawer"},
		{"PortBeyondItsSwitch", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].Link.Port = 25
			return m
		}, "link.port: port index is beyond the number of ports of its switch"},
		{"LinkToASwitchOfAnotherShelf", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].Link.Switch = "sw9"
			return m
		}, "link.switch: must name a switch of this shelf"},
		{"SliceLargerThanItsDisk", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			big := "1Ti"
			m.Spec.Shelves[0].Drawers[0].Disks[0].Slices[1].Size = &big
			return m
		}, "slices[].size: a slice is larger than its disk"},
		{"SlicesAddUpToMoreThanTheDisk", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			s := "410Gi" // 512Mi + 64Gi + 410Gi + 8Gi > 480Gi
			m.Spec.Shelves[0].Drawers[0].Disks[0].Slices[2].Size = &s
			return m
		}, "slices: the slices' sizes add up to more than the disk's size"},
		{"DuplicateMACsOnABoard", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			nics := m.Spec.Shelves[0].Drawers[0].Boards[0].NICs
			nics[1].MAC = nics[0].MAC
			return m
		}, "nics[].mac: MAC addresses must be unique on a board"},
		{"MalformedMAC", func() client.Object {
			m := pick("Machine", "edge-rack1").(*fcv1.Machine)
			m.Spec.Shelves[0].Drawers[0].Boards[0].NICs[0].MAC = "52:54:00:FC:00:ZZ"
			return m
		}, "mac: Invalid value"},
		{"AddressOutsideItsCIDR", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Addresses[0].IP = "198.20.0.1"
			return n
		}, "addresses[].ip: an address is outside the CIDR of its network"},
		{"AddressGivenTwice", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Addresses[1].IP = n.Spec.Addresses[0].IP
			return n
		}, "addresses[].ip: an address is given twice"},
		{"RouterOutsideItsNetwork", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Routers[0].Address = "198.18.0.1"
			return n
		}, "networks[].router: the router's address is outside the network's CIDR"},
		{"CIDRWithHostBits", func() client.Object {
			n := pick("Network", "edge-net").(*fcv1.Network)
			n.Spec.Networks[0].CIDR = "198.18.0.1/16"
			return n
		}, "cidr: must be an IPv4 network address"},
		{"GenericArchiveWithoutSource", func() client.Object {
			a := pick("FlashArchive", "debian12-base").(*fcv1.FlashArchive)
			a.Spec.Source = nil
			return a
		}, "source: a Generic archive is built from a source"},
		{"ArchiveSourceWithTwoKinds", func() client.Object {
			a := pick("FlashArchive", "debian12-base").(*fcv1.FlashArchive)
			a.Spec.Source.Rootfs = &fcv1.RootfsSource{URL: "http://198.18.0.1/r.tar", Digest: "sha256:" + strings.Repeat("a", 64)}
			return a
		}, "source: exactly one of image, rootfs, build, capture must be set"},
		{"DeployableWithoutItsCluster", func() client.Object {
			return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "dep"), Spec: fcv1.FlashArchiveSpec{
				Type: fcv1.ArchiveDeployable, BaseRef: &fcv1.LocalObjectReference{Name: "debian12-base"}}}
		}, "baseRef: a Deployable archive needs baseRef, clusterRef and nodesGroupRef"},
		{"ScriptSourceWithTwoKinds", func() client.Object {
			g := pick("NodesGroup", "masters").(*fcv1.NodesGroup)
			g.Spec.Configuration.Scripts[0].Source.ConfigMapKeyRef = &fcv1.KeyReference{Name: "cm", Key: "k"}
			return g
		}, "exactly one of configMapKeyRef, secretKeyRef, inline must be set"},
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
