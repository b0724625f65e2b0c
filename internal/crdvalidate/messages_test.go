package crdvalidate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// messageCase breaks one rule of one sample object.
type messageCase struct {
	name      string
	kind, obj string                 // the sample to start from
	edit      func(o map[string]any) // the change that breaks the rule
	field     string                 // the field the API server names (list entries by index)
	want      string                 // Explain's line: the field by key, then the rule's message
}

// messageCases are the rules whose message carries the value that broke them. Each message says
// what is wrong with which value, and what to do; a rule on an object starts it with the path of
// the entry inside that object, by key.
var messageCases = []messageCase{
	{"PortBeyondItsSwitch", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.2.boards.0.nics.1.link.port", int64(30))
	}, "spec.shelves[0]",
		"spec.shelves[shelf0].drawers[d3].boards[cpu0].nics[eth1].link.port: port 30 is beyond the 24 ports of switch shelf0/sw0: use a port from 1 to 24"},
	{"LinkToASwitchOfAnotherShelf", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.boards.0.nics.0.link.switch", "sw9")
	}, "spec.shelves[0]",
		"spec.shelves[shelf0].drawers[d1].boards[cpu0].nics[eth0].link.switch: switch sw9 is not a switch of shelf shelf0: cable the NIC to one of its switches (sw0)"},
	{"MACOfSevenOctets", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.boards.0.nics.0.mac", "52:54:00:fc:00:10:01")
	}, "spec.shelves[0].drawers[0].boards[0].nics[0].mac",
		"spec.shelves[shelf0].drawers[d1].boards[cpu0].nics[eth0].mac: MAC 52:54:00:fc:00:10:01 has 7 octets, not six: write six two-digit hex octets separated by colons, like 02:00:00:00:00:01"},
	{"MACInUpperCase", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.boards.0.nics.0.mac", "52:54:00:FC:00:10")
	}, "spec.shelves[0].drawers[0].boards[0].nics[0].mac",
		"spec.shelves[shelf0].drawers[d1].boards[cpu0].nics[eth0].mac: MAC 52:54:00:FC:00:10 has upper-case hex digits: write it in lower case, 52:54:00:fc:00:10"},
	{"MalformedMAC", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.boards.0.nics.0.mac", "52:54:00:fc:00:zz")
	}, "spec.shelves[0].drawers[0].boards[0].nics[0].mac",
		"spec.shelves[shelf0].drawers[d1].boards[cpu0].nics[eth0].mac: MAC 52:54:00:fc:00:zz is not six two-digit hex octets separated by colons: write it like 02:00:00:00:00:01"},
	{"DuplicateMACsOnABoard", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.1.boards.0.nics.1.mac", "52:54:00:fc:00:20")
	}, "spec.shelves[0].drawers[1].boards[0]",
		"spec.shelves[shelf0].drawers[d2].boards[cpu0].nics[eth1].mac: MAC 52:54:00:fc:00:20 is already the MAC of NIC eth0 of board cpu0: MAC addresses must be unique in the Machine"},
	{"SliceLargerThanItsDisk", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.disks.0.slices.1.size", "1Ti")
	}, "spec.shelves[0].drawers[0].disks[0]",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices[root].size: slice root (1Ti) is larger than disk disk0 (480Gi): shrink the slice or correct the disk's size"},
	{"SlicesAddUpToMoreThanTheDisk", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.disks.0.slices.2.size", "410Gi") // 512Mi + 64Gi + 410Gi + 8Gi
	}, "spec.shelves[0].drawers[0].disks[0]",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices: the slices of disk disk0 add up to 494080Mi, more than its 480Gi: shrink a slice or correct the disk's size"},
	{"TwoSlicesWithoutSize", "Machine", "edge-rack1", func(o map[string]any) {
		del(o, "spec.shelves.0.drawers.0.disks.0.slices.2.size")
	}, "spec.shelves[0].drawers[0].disks[0]",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices: slices var, data of disk disk0 have no size, but only one slice may take the rest of the disk: give all but one a size"},
	{"PartitionIndexTwice", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.disks.0.slices.3.index", int64(2))
	}, "spec.shelves[0].drawers[0].disks[0]",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices[swap].index: partition index 2 is already used by slice root of disk disk0: give each slice its own index"},
	{"FileSystemWithoutMountPoint", "Machine", "edge-rack1", func(o map[string]any) {
		del(o, "spec.shelves.0.drawers.0.disks.0.slices.2.filesystem.mountPoint")
	}, "spec.shelves[0].drawers[0].disks[0].slices[2].filesystem",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices[var].filesystem.mountPoint: a file system of type ext4 is mounted, and this one has no mount point: set mountPoint (such as /var), or make it swap"},
	{"MountedSwap", "Machine", "edge-rack1", func(o map[string]any) {
		set(o, "spec.shelves.0.drawers.0.disks.0.slices.3.filesystem.mountPoint", "/swap")
	}, "spec.shelves[0].drawers[0].disks[0].slices[3].filesystem",
		"spec.shelves[shelf0].drawers[d1].disks[disk0].slices[swap].filesystem.mountPoint: swap is never mounted, yet mountPoint is /swap: remove mountPoint"},
	{"AddressOnAnUnknownNetwork", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.addresses.0.network", "dmz")
	}, "spec",
		"spec.addresses[m1,dmz].network: network dmz is not in spec.networks: name one of its networks"},
	{"AddressOutsideItsCIDR", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.addresses.1.ip", "198.20.0.2")
	}, "spec",
		"spec.addresses[m2,external].ip: 198.20.0.2 is outside network external (198.19.0.0/16): give node m2 an address inside it"},
	{"AddressGivenTwice", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.addresses.1.ip", "198.19.100.1")
	}, "spec",
		"spec.addresses[m2,external].ip: 198.19.100.1 is already the address of node m1: give each node its own address"},
	{"UnknownRouter", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.networks.1.router", "core-gw")
	}, "spec",
		"spec.networks[external].router: router core-gw is not in spec.routers: add it or name one of the routers"},
	{"RouterOutsideItsNetwork", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.routers.0.address", "198.18.0.1")
	}, "spec",
		"spec.networks[external].router: router edge-gw (198.18.0.1) is outside the network's 198.19.0.0/16: choose a router inside it"},
	{"CIDRWithHostBits", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.networks.0.cidr", "198.18.0.1/16")
	}, "spec.networks[0]",
		"spec.networks[internal].cidr: 198.18.0.1/16 has host bits set: write its network address, 198.18.0.0/16"},
	{"CIDRNotACIDR", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.networks.0.cidr", "198.18.0.0")
	}, "spec.networks[0]",
		"spec.networks[internal].cidr: 198.18.0.0 is not an address with a prefix length: write it like 198.18.0.0/16"},
	{"RouterAddressNotIPv4", "Network", "edge-net", func(o map[string]any) {
		set(o, "spec.routers.0.address", "198.19.0.256")
	}, "spec.routers[0]",
		"spec.routers[edge-gw].address: 198.19.0.256 is not an IPv4 address: write it like 198.18.0.1"},
	{"DuplicateNodeIDsInAGroup", "NodesGroup", "diskless", func(o map[string]any) {
		set(o, "spec.nodes.2.id", int64(5))
	}, "spec",
		"spec.nodes[n7].id: node id 5 is already the id of node n5 of this group: give each node of the cluster its own id"},
	{"TwoNodesOfAGroupOnOneDrawer", "NodesGroup", "diskless", func(o map[string]any) {
		set(o, "spec.nodes.3.drawer", "edge-rack1/shelf0/d4")
	}, "spec",
		"spec.nodes[n8].drawer: drawer edge-rack1/shelf0/d4 already runs node n6 of this group: put each node on its own drawer"},
	{"DisklessGroupCannotBeMasterEligible", "NodesGroup", "diskless", func(o map[string]any) {
		set(o, "spec.role", "MasterEligible")
	}, "spec",
		"spec.role: a Diskless group cannot be MasterEligible, since diskless nodes are never master-eligible: set role: NonMasterEligible, or nodeType: Diskfull if its nodes have a disk"},
	{"ScriptSourceWithTwoKinds", "NodesGroup", "masters", func(o map[string]any) {
		set(o, "spec.configuration.scripts.0.source.secretKeyRef", map[string]any{"name": "s", "key": "k"})
	}, "spec.configuration.scripts[0].source",
		"spec.configuration.scripts[exports].source: secretKeyRef, inline are set together: keep exactly one of configMapKeyRef, secretKeyRef, inline"},
	{"FilePathWithDotDot", "NodesGroup", "masters", func(o map[string]any) {
		set(o, "spec.configuration.files.0.path", "/etc/../motd")
	}, "spec.configuration.files[0].path",
		"spec.configuration.files[/etc/../motd].path: path /etc/../motd has a .. segment: write it without .."},
	{"GenericArchiveWithABase", "FlashArchive", "debian12-base", func(o map[string]any) {
		set(o, "spec.baseRef", map[string]any{"name": "other"})
	}, "spec",
		"spec.baseRef: a Generic archive is built from its source alone and has no baseRef: remove it, or make the archive Configured or Deployable"},
	{"GenericArchiveWithoutSource", "FlashArchive", "debian12-base", func(o map[string]any) {
		del(o, "spec.source")
	}, "spec",
		"spec.source: a Generic archive is built from a source, and this one has none: set source, or make the archive Configured or Deployable"},
	{"DeployableWithoutItsCluster", "FlashArchive", "debian12-base", func(o map[string]any) {
		set(o, "spec.type", "Deployable")
		del(o, "spec.source")
		set(o, "spec.baseRef", map[string]any{"name": "debian12-base"})
		set(o, "spec.nodesGroupRef", map[string]any{"name": "masters"})
	}, "spec",
		"spec.clusterRef: a Deployable archive is a base adapted to one group of one cluster, and this one has no clusterRef: set baseRef, clusterRef and nodesGroupRef"},
	{"ConfigurationOnAGenericArchive", "FlashArchive", "debian12-base", func(o map[string]any) {
		set(o, "spec.configuration", map[string]any{"reboots": "Twice"})
	}, "spec",
		"spec.configuration: a Generic archive carries no user configuration (only a Configured one does): remove it, or make the archive Configured"},
	{"ArchiveSourceWithTwoKinds", "FlashArchive", "debian12-base", func(o map[string]any) {
		set(o, "spec.source.rootfs", map[string]any{"url": "http://198.18.0.1/r.tar", "digest": "sha256:" + strings.Repeat("a", 64)})
	}, "spec.source",
		"spec.source: image, rootfs are set together: keep exactly one of image, rootfs, build, capture"},
}

// TestMessagesNameTheValue breaks each rule of messageCases in a sample and checks the message
// three ways: the real API server refuses the object with it, Admit gives the same error, and
// Explain renders it as `flarecast model check` prints it.
func TestMessagesNameTheValue(t *testing.T) {
	c := startServer(t)
	v := load(t)
	samples := readSamples(t)
	for _, tc := range messageCases {
		t.Run(tc.name, func(t *testing.T) {
			src, ok := samples[tc.kind+"/"+tc.obj]
			if !ok {
				t.Fatalf("no %s %s in config/samples", tc.kind, tc.obj)
			}
			obj := deepCopy(src)
			tc.edit(obj)
			offline := deepCopy(obj)
			errs := v.Admit(context.Background(), offline)
			var got []string
			found := ""
			for _, e := range errs {
				path, msg := v.Explain(offline, e)
				got = append(got, path+": "+msg)
				if e.Field == tc.field && path+": "+msg == tc.want {
					found = e.Error()
				}
			}
			if found == "" {
				t.Fatalf("Admit: no error on %s reading\n  %s\ngot\n  %s", tc.field, tc.want, strings.Join(got, "\n  "))
			}
			u := &unstructured.Unstructured{Object: deepCopy(obj)}
			u.SetNamespace("default")
			err := c.Create(context.Background(), u, client.DryRunAll, client.FieldValidation("Strict"))
			if err == nil {
				t.Fatalf("the API server accepts it")
			}
			if !strings.Contains(err.Error(), found) {
				t.Fatalf("the API server says\n  %v\nnot\n  %s", err, found)
			}
		})
	}
}

// readSamples reads config/samples/*.yaml by Kind/name, decoded as the server decodes JSON.
func readSamples(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("samples: %v %v", files, err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var obj map[string]any
			if utiljson.Unmarshal(js, &obj) != nil || obj == nil || obj["kind"] == "Kustomization" {
				continue
			}
			meta, _ := obj["metadata"].(map[string]any)
			out[fmt.Sprintf("%v/%v", obj["kind"], meta["name"])] = obj
		}
	}
	return out
}

// set puts value at a dotted path of maps and list indexes, creating maps on the way.
func set(obj map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	var cur any = obj
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = value
				return
			}
			if _, ok := c[p]; !ok {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			var n int
			fmt.Sscan(p, &n)
			if last {
				c[n] = value
				return
			}
			cur = c[n]
		}
	}
}

// del removes the field at a dotted path.
func del(obj map[string]any, path string) {
	i := strings.LastIndex(path, ".")
	var parent any = obj
	if i >= 0 {
		parent = get(obj, path[:i])
	}
	if m, ok := parent.(map[string]any); ok {
		delete(m, path[i+1:])
	}
}

func get(obj map[string]any, path string) any {
	var cur any = obj
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			var n int
			fmt.Sscan(p, &n)
			cur = c[n]
		}
	}
	return cur
}
