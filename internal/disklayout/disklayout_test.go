package disklayout

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// fakeSysfs makes /sys/block entries as the kernel shows them: a link into /sys/devices, a
// size in 512-byte sectors, a serial.
func fakeSysfs(t *testing.T, disks map[string][3]string) string {
	t.Helper()
	root := t.TempDir()
	for name, d := range disks { // d: bus path, size in sectors, serial
		dev := filepath.Join(root, "devices", d[0], "block", name)
		if err := os.MkdirAll(dev, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dev, "size"), []byte(d[1]+"\n"), 0o644)
		os.WriteFile(filepath.Join(dev, "ro"), []byte("0\n"), 0o644)
		if d[2] != "" {
			os.WriteFile(filepath.Join(dev, "serial"), []byte(d[2]+"\n"), 0o644)
		}
		os.MkdirAll(filepath.Join(root, "block"), 0o755)
		if err := os.Symlink(filepath.Join("..", "devices", d[0], "block", name), filepath.Join(root, "block", name)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDisksAreFoundByWhatTheModelSaysNotByProbeOrder(t *testing.T) {
	sys := fakeSysfs(t, map[string][3]string{
		"vda": {"pci0000:00/0000:00:04.0/virtio1", "62914560", "SYS-1"},   // 30 GiB
		"vdb": {"pci0000:00/0000:00:05.0/virtio2", "209715200", "DATA-7"}, // 100 GiB
	})
	devs, err := Scan(sys, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].BusPath != "pci0000:00/0000:00:04.0/virtio1" || devs[1].Serial != "DATA-7" || devs[1].Size != 100*gib {
		t.Fatalf("scanned %+v", devs)
	}
	// The model's data disk names /dev/vda, but its serial is vdb's: the serial wins.
	got, err := Match([]Disk{
		{Name: "data", Serial: "DATA-7", Device: "/dev/vda", Size: 100 * gib, Slices: []Slice{{Name: "d", Index: 1}}},
		{Name: "sys", BusPath: "pci0000:00/0000:00:04.0/virtio1", Size: 30 * gib, Slices: []Slice{{Name: "root", Index: 1, Size: 20 * gib}}},
	}, devs)
	if err != nil {
		t.Fatal(err)
	}
	if got["data"].Name != "vdb" || got["sys"].Name != "vda" {
		t.Fatalf("matched %+v", got)
	}

	for name, c := range map[string]struct {
		disks []Disk
		want  string
	}{
		"a serial no device has": {[]Disk{{Name: "d0", Serial: "NOPE", Device: "/dev/vda"}},
			`disk d0: no block device has serial "NOPE" (the node has: /dev/vda 30.0 GiB serial SYS-1, /dev/vdb 100.0 GiB serial DATA-7)`},
		"a layout bigger than its disk": {[]Disk{{Name: "d0", Serial: "SYS-1", Slices: []Slice{{Name: "root", Index: 1, Size: 40 * gib}}}},
			"disk d0: /dev/vda holds 30.0 GiB, less than the 40.0 GiB its slices need"},
		"a device far from the model's size": {[]Disk{{Name: "d0", Serial: "DATA-7", Size: 480 * gib}},
			"disk d0: /dev/vdb holds 100.0 GiB, the model says 480.0 GiB: is it the right disk?"},
		"one device for two disks": {[]Disk{{Name: "d0", Serial: "SYS-1"}, {Name: "d1", Device: "/dev/vda"}},
			"disk d1: /dev/vda (device /dev/vda) is already disk d0"},
		"nothing to find it by": {[]Disk{{Name: "d0", Size: 30 * gib}},
			"disk d0: the model gives no serial, bus path or device to find it by"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Match(c.disks, devs); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant %s", err, c.want)
			}
		})
	}
}

func TestSlicesMustBeNumberedAndOnlyTheLastTakesTheRest(t *testing.T) {
	for name, c := range map[string]struct {
		slices []Slice
		want   string
	}{
		"a gap":              {[]Slice{{Name: "a", Index: 1, Size: mib}, {Name: "b", Index: 3}}, "slice b has index 3"},
		"rest in the middle": {[]Slice{{Name: "a", Index: 1}, {Name: "b", Index: 2, Size: mib}}, "slice a has no size but is not the last"},
		"too big":            {[]Slice{{Name: "a", Index: 1, Size: 2 * gib}}, "slice a (2.0 GiB from 1.0 MiB) does not fit"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := plan(Disk{Name: "d0", Slices: c.slices}, gib); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
				t.Fatalf("%s is missing and FLARECAST_REQUIRE_PEERS is set: run hack/debian-deps.sh", tool)
			}
			t.Skipf("%s is missing: run hack/debian-deps.sh", tool)
		}
	}
	if os.Getuid() != 0 {
		t.Skip("loop devices need root")
	}
}

func out(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return strings.TrimSpace(string(b))
}

// loopDevice is a sparse file of size attached to a loop device with partition scanning.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev := out(t, "losetup", "--find", "--show", "--partscan", img)
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev).Run() })
	return dev
}

func TestADiskIsLaidOutWithTheModelsSlicesAndFileSystems(t *testing.T) {
	need(t, "losetup", "sgdisk", "blkid", "mkfs.ext4", "mkfs.xfs", "mkfs.vfat", "mkswap")
	dev := loopDevice(t, 2*gib)
	devs, err := Scan("/sys", "/dev")
	if err != nil {
		t.Fatal(err)
	}
	disk := Disk{Name: "d0", Device: dev, Size: 2 * gib, Slices: []Slice{
		{Name: "efi", Index: 1, Size: 64 * mib, Filesystem: &Filesystem{Type: "vfat", MountPoint: "/boot/efi", Label: "efi"}},
		{Name: "swap", Index: 2, Size: 64 * mib, Filesystem: &Filesystem{Type: "swap", Label: "swap"}},
		{Name: "root", Index: 3, Size: 600 * mib, Filesystem: &Filesystem{Type: "ext4", MountPoint: "/", Label: "root"}},
		{Name: "data", Index: 4, Filesystem: &Filesystem{Type: "xfs", MountPoint: "/data", Label: "data"}},
	}}
	matched, err := Match([]Disk{disk}, devs)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := Apply(context.Background(), disk, matched["d0"], Options{BIOSBoot: true})
	if err != nil {
		t.Fatal(err)
	}

	// sgdisk (gdisk) reads the table back: the slices in order with their types, names and
	// 1 MiB alignment, and the BIOS boot partition in front of them.
	table := out(t, "sgdisk", "--print", dev)
	for _, want := range []string{
		"1            2048          133119   64.0 MiB    EF00  efi",
		"2          133120          264191   64.0 MiB    8200  swap",
		"3          264192         1492991   600.0 MiB   8300  root",
		"4         1492992         4194270   1.3 GiB     8300  data",
		"5              34            2047   1007.0 KiB  EF02  bios-boot",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("sgdisk --print lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "Problem") || strings.Contains(table, "corrupt") {
		t.Errorf("sgdisk reports a problem:\n%s", table)
	}
	// blkid (util-linux) reads each file system and the partition GUIDs back.
	for _, p := range parts {
		typ := out(t, "blkid", "-p", "-s", "TYPE", "-o", "value", p.Device)
		label := out(t, "blkid", "-p", "-s", "LABEL", "-o", "value", p.Device)
		partuuid := out(t, "blkid", "-p", "-s", "PART_ENTRY_UUID", "-o", "value", p.Device)
		if typ != p.Filesystem.Type || !strings.EqualFold(label, p.Filesystem.Label) || !strings.EqualFold(partuuid, p.PartUUID) {
			t.Errorf("%s (%s): blkid says TYPE=%s LABEL=%s PARTUUID=%s, want %s %s %s", p.Device, p.Slice, typ, label, partuuid,
				p.Filesystem.Type, p.Filesystem.Label, p.PartUUID)
		}
	}

	// A disk in use is never written: with its root slice mounted, a second layout is refused.
	mnt := t.TempDir()
	out(t, "mount", parts[2].Device, mnt)
	defer exec.Command("umount", mnt).Run()
	if _, err := Apply(context.Background(), disk, matched["d0"], Options{}); err == nil || !strings.Contains(err.Error(), "in use?") {
		t.Fatalf("a layout over a mounted disk: %v", err)
	}
	if got := out(t, "blkid", "-p", "-s", "TYPE", "-o", "value", parts[2].Device); got != "ext4" {
		t.Fatalf("the mounted root is now %q", got)
	}
}
