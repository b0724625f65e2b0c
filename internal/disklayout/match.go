package disklayout

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/flarecast/flarecast/internal/bytesize"
)

// Disk is a disk of the install plan, as the Machine model describes it.
type Disk struct {
	// Name is the disk's name in the model (d0), for messages.
	Name string `json:"name"`
	// Serial, BusPath and Device identify it, tried in that order: the serial the disk
	// reports, the sysfs device path below /sys/devices (pci0000:00/0000:00:04.0/...), the
	// kernel name (/dev/vda). Device alone is the weakest: names follow probe order.
	Serial  string `json:"serial,omitempty"`
	BusPath string `json:"busPath,omitempty"`
	Device  string `json:"device,omitempty"`
	// Size is the capacity the model gives, in bytes; a device whose size differs by more
	// than SizeTolerance is not this disk.
	Size   int64   `json:"size"`
	Slices []Slice `json:"slices,omitempty"`
}

// Slice is a partition of a Disk.
type Slice struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	// Size in bytes; 0 takes the rest of the disk (the last slice only).
	Size       int64       `json:"size,omitempty"`
	Filesystem *Filesystem `json:"filesystem,omitempty"`
}

// Filesystem is what to make on a slice.
type Filesystem struct {
	Type       string `json:"type"` // ext4, xfs, vfat, swap
	MountPoint string `json:"mountPoint,omitempty"`
	Label      string `json:"label,omitempty"`
}

// SizeTolerance is how far a device's size may be from the model's: vendors count in powers
// of ten (480 GB) where models often write powers of two (480Gi), about 7% apart.
const SizeTolerance = 0.10

// BlockDevice is a whole disk the node has.
type BlockDevice struct {
	Name    string // vda
	Path    string // /dev/vda
	Size    int64  // bytes
	Serial  string
	BusPath string // the sysfs device path below /sys/devices, without the block/NAME tail
	// ReadOnly devices (a CD, a write-protected card) are never chosen.
	ReadOnly bool
}

// Scan lists the whole disks under sysfs (normally /sys) with their size, serial and bus
// path; devDir (normally /dev) is where their nodes are. Partitions, and loop, ram and zram
// devices without a backing, are left out: they are not disks a model describes.
func Scan(sysfs, devDir string) ([]BlockDevice, error) {
	entries, err := os.ReadDir(filepath.Join(sysfs, "block"))
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var devs []BlockDevice
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") || strings.HasPrefix(name, "dm-") {
			continue
		}
		dir := filepath.Join(sysfs, "block", name)
		sectors, err := readInt(filepath.Join(dir, "size"))
		if err != nil || sectors == 0 {
			continue // an empty loop device or a drive without a medium
		}
		d := BlockDevice{Name: name, Path: filepath.Join(devDir, name), Size: sectors * 512}
		if ro, err := readInt(filepath.Join(dir, "ro")); err == nil && ro != 0 {
			d.ReadOnly = true
		}
		d.Serial = firstLine(filepath.Join(dir, "serial"), filepath.Join(dir, "device", "serial"))
		if target, err := os.Readlink(dir); err == nil {
			// ../devices/pci0000:00/0000:00:04.0/virtio1/block/vda
			p := filepath.ToSlash(target)
			if i := strings.Index(p, "devices/"); i >= 0 {
				p = p[i+len("devices/"):]
			}
			d.BusPath = strings.TrimSuffix(p, "/block/"+name)
		}
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Name < devs[j].Name })
	return devs, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func firstLine(paths ...string) string {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			if s := strings.TrimSpace(string(b)); s != "" {
				return s
			}
		}
	}
	return ""
}

// Match finds the device of each disk of the plan. Every disk must be found, by one device,
// and no device may serve two disks; a device too small for its layout, read-only, or whose
// size is far from the model's is refused with a message that names both.
func Match(disks []Disk, devs []BlockDevice) (map[string]BlockDevice, error) {
	out := map[string]BlockDevice{}
	used := map[string]string{}
	var errs []error
	for _, d := range disks {
		dev, how, err := find(d, devs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, ok := used[dev.Name]; ok {
			errs = append(errs, fmt.Errorf("disk %s: %s (%s) is already disk %s", d.Name, dev.Path, how, other))
			continue
		}
		if err := fits(d, dev); err != nil {
			errs = append(errs, err)
			continue
		}
		used[dev.Name] = d.Name
		out[d.Name] = dev
	}
	return out, errors.Join(errs...)
}

func find(d Disk, devs []BlockDevice) (BlockDevice, string, error) {
	for _, key := range []struct {
		what, want string
		of         func(BlockDevice) string
	}{
		{"serial", d.Serial, func(b BlockDevice) string { return b.Serial }},
		{"bus path", d.BusPath, func(b BlockDevice) string { return b.BusPath }},
		{"device", d.Device, func(b BlockDevice) string { return b.Path }},
	} {
		if key.want == "" {
			continue
		}
		for _, b := range devs {
			if key.of(b) == key.want {
				return b, key.what + " " + key.want, nil
			}
		}
		// A disk the model identifies by serial is that disk or none: falling back to a
		// weaker key could pick another node's data disk.
		return BlockDevice{}, "", fmt.Errorf("disk %s: no block device has %s %q (the node has: %s)", d.Name, key.what, key.want, describe(devs))
	}
	return BlockDevice{}, "", fmt.Errorf("disk %s: the model gives no serial, bus path or device to find it by", d.Name)
}

func fits(d Disk, dev BlockDevice) error {
	if dev.ReadOnly {
		return fmt.Errorf("disk %s: %s is read-only", d.Name, dev.Path)
	}
	if need := layoutSize(d); dev.Size < need {
		return fmt.Errorf("disk %s: %s holds %s, less than the %s its slices need", d.Name, dev.Path, bytesize.Format(dev.Size), bytesize.Format(need))
	}
	if d.Size > 0 {
		if diff := float64(dev.Size-d.Size) / float64(d.Size); diff > SizeTolerance || diff < -SizeTolerance {
			return fmt.Errorf("disk %s: %s holds %s, the model says %s: is it the right disk?", d.Name, dev.Path, bytesize.Format(dev.Size), bytesize.Format(d.Size))
		}
	}
	return nil
}

func describe(devs []BlockDevice) string {
	if len(devs) == 0 {
		return "no disks"
	}
	var parts []string
	for _, b := range devs {
		s := b.Path + " " + bytesize.Format(b.Size)
		if b.Serial != "" {
			s += " serial " + b.Serial
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
