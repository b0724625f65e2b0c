package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/disklayout"
	"github.com/flarecast/flarecast/internal/installplan"
)

func filesByPath(fs []nodeFile) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		out[f.path] = f.data
	}
	return out
}

func TestANICOnSeveralNetworksTagsThemAndANICOnOneDoesNot(t *testing.T) {
	got := filesByPath(networkd([]installplan.NIC{
		{Name: "eth0", MAC: "02:00:00:00:00:01", Network: "internal", Address: "198.18.7.1/16", VLAN: 10, Provisioning: true},
		{Name: "eth1", MAC: "02:00:00:00:00:02", Network: "external", Address: "198.19.100.1/16", Gateway: "198.19.0.1", VLAN: 20},
		{Name: "eth1", MAC: "02:00:00:00:00:02", Network: "storage", Address: "198.18.200.1/24", VLAN: 30},
	}, false))
	want := map[string]string{
		"etc/systemd/network/10-flarecast-eth0.link":       "[Match]\nMACAddress=02:00:00:00:00:01\n\n[Link]\nName=eth0\n",
		"etc/systemd/network/10-flarecast-eth0.network":    "[Match]\nMACAddress=02:00:00:00:00:01\n\n[Network]\nAddress=198.18.7.1/16\n",
		"etc/systemd/network/10-flarecast-eth1.link":       "[Match]\nMACAddress=02:00:00:00:00:02\n\n[Link]\nName=eth1\n",
		"etc/systemd/network/10-flarecast-eth1.network":    "[Match]\nMACAddress=02:00:00:00:00:02\n\n[Network]\nVLAN=eth1.20\nVLAN=eth1.30\n",
		"etc/systemd/network/10-flarecast-eth1.20.netdev":  "[NetDev]\nName=eth1.20\nKind=vlan\n\n[VLAN]\nId=20\n",
		"etc/systemd/network/10-flarecast-eth1.20.network": "[Match]\nName=eth1.20\n\n[Network]\nAddress=198.19.100.1/16\nGateway=198.19.0.1\n",
		"etc/systemd/network/10-flarecast-eth1.30.netdev":  "[NetDev]\nName=eth1.30\nKind=vlan\n\n[VLAN]\nId=30\n",
		"etc/systemd/network/10-flarecast-eth1.30.network": "[Match]\nName=eth1.30\n\n[Network]\nAddress=198.18.200.1/24\n",
	}
	if len(got) != len(want) {
		t.Errorf("%d files, want %d: %v", len(got), len(want), got)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s:\n%s\nwant\n%s", p, got[p], w)
		}
	}
}

func TestFstabMountsEachSliceByItsPartitionGUID(t *testing.T) {
	parts := []laidOut{
		{Partition: disklayout.Partition{Slice: "root", Number: 2, PartUUID: "r-uuid", Filesystem: &disklayout.Filesystem{Type: "ext4", MountPoint: "/"}}, options: []string{"noatime", "errors=remount-ro"}},
		{Partition: disklayout.Partition{Slice: "efi", Number: 1, PartUUID: "e-uuid", Filesystem: &disklayout.Filesystem{Type: "vfat", MountPoint: "/boot/efi"}}},
		{Partition: disklayout.Partition{Slice: "swap", Number: 3, PartUUID: "s-uuid", Filesystem: &disklayout.Filesystem{Type: "swap"}}},
		{Partition: disklayout.Partition{Slice: "data", Number: 4, PartUUID: "d-uuid", Filesystem: &disklayout.Filesystem{Type: "xfs", MountPoint: "/data"}}},
		{Partition: disklayout.Partition{Slice: "raw", Number: 5, PartUUID: "x-uuid"}},
	}
	want := "# Written by flarecast-agent from the node's install plan.\n" +
		"PARTUUID=e-uuid\t/boot/efi\tvfat\tdefaults\t0\t2\n" +
		"PARTUUID=r-uuid\t/\text4\tnoatime,errors=remount-ro\t0\t1\n" +
		"PARTUUID=s-uuid\tnone\tswap\tsw\t0\t0\n" +
		"PARTUUID=d-uuid\t/data\txfs\tdefaults\t0\t0\n"
	if got, err := fstab(parts, nil); err != nil || got != want {
		t.Errorf("fstab:\n%s\nwant\n%s", got, want)
	}
}

func TestThePlanAndTheArchiveMustAgreeOnTheFirstBootScripts(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, filepath.Dir(ConfigurationManifest)), 0o755)
	os.WriteFile(filepath.Join(root, ConfigurationManifest), []byte(`{"scripts":[
		{"name":"b","order":5,"stage":"FirstBoot","path":"/var/lib/flarecast/configuration/scripts/b"},
		{"name":"a","order":5,"stage":"FirstBoot","path":"/var/lib/flarecast/configuration/scripts/a"},
		{"name":"z","order":1,"stage":"AfterServices","path":"/var/lib/flarecast/configuration/scripts/z"}]}`), 0o644)
	got, err := firstBootScripts(root, []installplan.Script{{Name: "a", Stage: "FirstBoot", Order: 5}, {Name: "b", Stage: "FirstBoot", Order: 5}, {Name: "z", Stage: "AfterServices", Order: 1}})
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := firstBootScripts(root, []installplan.Script{{Name: "a", Stage: "FirstBoot"}}); err == nil || !strings.Contains(err.Error(), "the plan's FirstBoot scripts [a] are not the archive's [a b]") {
		t.Fatalf("a plan that lists fewer: %v", err)
	}
	if _, err := firstBootScripts(t.TempDir(), []installplan.Script{{Name: "a", Stage: "FirstBoot"}}); err == nil || !strings.Contains(err.Error(), "the archive has no configuration section") {
		t.Fatalf("an archive without configuration: %v", err)
	}
}

func TestHostsNamesTheNodeOnItsProvisioningAddress(t *testing.T) {
	got := hosts(installplan.Plan{Hostname: "m1", Domain: "edge.example", NICs: []installplan.NIC{{Name: "eth1", Address: "198.19.0.5/16"}, {Name: "eth0", Address: "198.18.7.1/16", Provisioning: true}}})
	if !strings.HasSuffix(got, "198.18.7.1\tm1.edge.example\tm1\n") {
		t.Errorf("hosts:\n%s", got)
	}
}

func TestIfupdownGetsTheSameAddressesAsNetworkd(t *testing.T) {
	got := interfaces([]installplan.NIC{
		{Name: "eth0", MAC: "02:00:00:00:00:01", Network: "internal", Address: "198.18.7.1/16", VLAN: 10, Provisioning: true},
		{Name: "eth1", MAC: "02:00:00:00:00:02", Network: "external", Address: "198.19.100.1/16", Gateway: "198.19.0.1", VLAN: 20},
		{Name: "eth1", MAC: "02:00:00:00:00:02", Network: "storage", Address: "198.18.200.1/24", VLAN: 30},
	}, false)
	want := "# Written by flarecast-agent from the node's install plan.\n" +
		"\nauto eth0\niface eth0 inet static\n\taddress 198.18.7.1/16\n" +
		"\nauto eth1\niface eth1 inet manual\n" +
		"\nauto eth1.20\niface eth1.20 inet static\n\taddress 198.19.100.1/16\n\tgateway 198.19.0.1\n" +
		"\nauto eth1.30\niface eth1.30 inet static\n\taddress 198.18.200.1/24\n"
	if got != want {
		t.Errorf("interfaces:\n%s\nwant\n%s", got, want)
	}
}
