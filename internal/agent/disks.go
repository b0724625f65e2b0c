package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/flarecast/flarecast/internal/disklayout"
	"github.com/flarecast/flarecast/internal/installplan"
)

// layoutDisk is a plan disk as disklayout takes it.
func layoutDisk(d installplan.Disk) disklayout.Disk {
	out := disklayout.Disk{Name: d.Name, Serial: d.Serial, BusPath: d.BusPath, Device: d.Device, Size: d.Size}
	for _, s := range d.Slices {
		sl := disklayout.Slice{Name: s.Name, Index: int(s.Index), Size: s.Size}
		if s.FSType != "" {
			sl.Filesystem = &disklayout.Filesystem{Type: s.FSType, MountPoint: s.MountPoint, Label: s.Label}
		}
		out.Slices = append(out.Slices, sl)
	}
	return out
}

// findDisks matches the plan's disks with the node's devices: by serial, bus path or kernel
// name among what sysfs lists, or, for a simulated node, the device the disk map names for
// each disk (the disk is then that device, whatever the model says identifies it; its size
// is still checked).
func (in *install) findDisks() (map[string]disklayout.BlockDevice, error) {
	var disks []disklayout.Disk
	for _, d := range in.plan.Disks {
		disks = append(disks, layoutDisk(d))
	}
	if in.cfg.DiskMap == nil {
		devs, err := disklayout.Scan(in.cfg.Sysfs, in.cfg.DevDir)
		if err != nil {
			return nil, err
		}
		return disklayout.Match(disks, devs)
	}
	var devs []disklayout.BlockDevice
	for i, d := range disks {
		path, ok := in.cfg.DiskMap[d.Name]
		if !ok {
			return nil, fmt.Errorf("disk %s: the disk map names no device for it", d.Name)
		}
		size, err := deviceSize(path)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", d.Name, err)
		}
		devs = append(devs, disklayout.BlockDevice{Name: filepath.Base(path), Path: path, Size: size})
		disks[i].Serial, disks[i].BusPath, disks[i].Device = "", "", path
	}
	return disklayout.Match(disks, devs)
}

// deviceSize is a block device's size: seeking to its end gives it without an ioctl.
func deviceSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode()&os.ModeDevice == 0 {
		return 0, fmt.Errorf("%s is not a block device (attach a disk image with losetup --partscan)", path)
	}
	return f.Seek(0, io.SeekEnd)
}

// layOut writes each disk's GPT and file systems.
func (in *install) layOut(ctx context.Context) error {
	devs, err := in.findDisks()
	if err != nil {
		return err
	}
	opts := disklayout.Options{BIOSBoot: in.plan.Firmware == "BIOS"}
	for _, d := range in.plan.Disks {
		dev := devs[d.Name]
		ld := layoutDisk(d)
		parts, err := disklayout.Apply(ctx, ld, dev, opts)
		if err != nil {
			return err
		}
		in.devices = append(in.devices, dev)
		for _, p := range parts {
			in.parts = append(in.parts, laidOut{Partition: p, disk: dev, options: sliceOptions(d, p.Slice)})
		}
		in.log.Info("disk laid out", "disk", d.Name, "device", dev.Path, "slices", len(parts))
	}
	return nil
}

func sliceOptions(d installplan.Disk, slice string) []string {
	for _, s := range d.Slices {
		if s.Name == slice {
			return s.Options
		}
	}
	return nil
}

// laidOut is a partition made for a slice, with its mount options.
type laidOut struct {
	disklayout.Partition
	disk    disklayout.BlockDevice
	options []string
}

// mountAll mounts the slices' file systems under the target, the shallowest mount point
// first (/ before /var before /var/log).
func (in *install) mountAll() error {
	var mounts []laidOut
	for _, p := range in.parts {
		if fs := p.Filesystem; fs != nil && fs.Type != "swap" && fs.MountPoint != "" {
			mounts = append(mounts, p)
		}
	}
	slices.SortFunc(mounts, func(a, b laidOut) int {
		return cmp.Or(cmp.Compare(depth(a.Filesystem.MountPoint), depth(b.Filesystem.MountPoint)), strings.Compare(a.Filesystem.MountPoint, b.Filesystem.MountPoint))
	})
	if len(mounts) == 0 || mounts[0].Filesystem.MountPoint != "/" {
		return errors.New("no slice of the plan is mounted at /: there is nowhere to install the archive")
	}
	for _, m := range mounts {
		at := filepath.Join(in.cfg.Target, m.Filesystem.MountPoint)
		if err := os.MkdirAll(at, 0o755); err != nil {
			return err
		}
		// Mount options of the model are for the installed system's fstab; the agent mounts
		// with the defaults, which every option there only narrows.
		if err := syscall.Mount(m.Device, at, m.Filesystem.Type, 0, ""); err != nil {
			if errors.Is(err, syscall.ENODEV) && in.cfg.NoBootLoader && isESP(m.Filesystem) {
				// A simulated node's disk is never booted, and only the boot loader goes on
				// the ESP: a kernel without vfat (these test machines') need not mount it.
				in.log.Info("EFI system partition not mounted: this kernel has no vfat, and no boot loader is installed", "device", m.Device, "at", at)
				continue
			}
			return fmt.Errorf("mount %s (%s, slice %s) at %s: %w", m.Device, m.Filesystem.Type, m.Slice, at, err)
		}
		in.mounted = append(in.mounted, at)
	}
	return nil
}

// isESP is the EFI system partition of a plan: vfat at /boot/efi or /efi, as disklayout types it.
func isESP(fs *disklayout.Filesystem) bool {
	return fs.Type == "vfat" && (fs.MountPoint == "/boot/efi" || fs.MountPoint == "/efi")
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// unmountAll unmounts what the agent mounted, the deepest first; a busy mount is detached so
// that the disk can still be wiped.
func (in *install) unmountAll() error {
	var errs []error
	for i := len(in.mounted) - 1; i >= 0; i-- {
		at := in.mounted[i]
		if err := syscall.Unmount(at, 0); err != nil {
			if err2 := syscall.Unmount(at, syscall.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", at, err))
			}
		}
	}
	in.mounted = nil
	syscall.Sync()
	return errors.Join(errs...)
}

// wipeDisks leaves every disk the agent laid out without a partition table, so no firmware
// boots what is on it.
func (in *install) wipeDisks() error {
	if err := in.unmountAll(); err != nil {
		in.log.Error("unmount before wiping", "err", err)
	}
	var errs []error
	for _, dev := range in.devices {
		if err := disklayout.Wipe(dev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
