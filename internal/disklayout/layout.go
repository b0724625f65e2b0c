package disklayout

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/bytesize"
)

const (
	sector = 512
	// align is where partitions start: 1 MiB, what every partitioning tool uses today (and
	// the erase block of most flash).
	align = 1 << 20
	// gptReserve is what a GPT takes at the end of a disk: the backup of its 32 sectors of
	// partition entries and its header (the start holds the protective MBR too, inside the
	// first aligned MiB).
	gptReserve = 33 * sector
	// biosBootStart and biosBootEnd are the sectors before the first aligned partition,
	// which grub's BIOS core image fits in; the BIOS boot partition takes them so that no
	// slice of the model gives up space for it.
	biosBootStart, biosBootEnd = 34, align/sector - 1
)

// Options change how a disk is laid out.
type Options struct {
	// BIOSBoot adds a BIOS boot partition in the sectors before the first slice (after the
	// model's slices in number), for grub on a GPT disk booted by a BIOS.
	BIOSBoot bool
	// Settle is how long to wait for the kernel to show the new partitions (5 s by default).
	Settle time.Duration
}

// Partition is what was made for a slice.
type Partition struct {
	Slice  string `json:"slice"`
	Number int    `json:"number"`
	Device string `json:"device"`
	// PartUUID is the GPT partition GUID, for fstab (PARTUUID=) and root= on the kernel line.
	PartUUID   string      `json:"partUUID"`
	Start      int64       `json:"start"` // bytes
	Size       int64       `json:"size"`  // bytes
	Filesystem *Filesystem `json:"filesystem,omitempty"`
}

// layoutSize is the smallest device a disk's layout fits on.
func layoutSize(d Disk) int64 {
	n := int64(align)
	for _, s := range d.Slices {
		size := s.Size
		if size == 0 {
			size = align // a slice that takes the rest needs at least something
		}
		n += roundUp(size, align)
	}
	return n + gptReserve
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// plan places the slices: in index order, each at the next 1 MiB boundary, the one without a
// size up to the last usable sector. Indexes must be 1..n: a GPT numbers its entries by
// position, and a gap would be an empty entry the kernel skips but tools report oddly.
func plan(d Disk, devSize int64) ([]Partition, error) {
	sl := slices.Clone(d.Slices)
	slices.SortFunc(sl, func(a, b Slice) int { return a.Index - b.Index })
	lastUsable := devSize/sector*sector - gptReserve - 1 // last byte of the last usable sector
	start := int64(align)
	var parts []Partition
	for i, s := range sl {
		if s.Index != i+1 {
			return nil, fmt.Errorf("disk %s: slice %s has index %d: slices are numbered 1 to %d without gaps", d.Name, s.Name, s.Index, len(sl))
		}
		size := roundUp(s.Size, sector)
		if s.Size == 0 {
			if i != len(sl)-1 {
				return nil, fmt.Errorf("disk %s: slice %s has no size but is not the last: only the last slice takes the rest", d.Name, s.Name)
			}
			size = lastUsable + 1 - start
		}
		if start+size-1 > lastUsable || size <= 0 {
			return nil, fmt.Errorf("disk %s: slice %s (%s from %s) does not fit on the device's %s", d.Name, s.Name, bytesize.Format(size), bytesize.Format(start), bytesize.Format(devSize))
		}
		parts = append(parts, Partition{Slice: s.Name, Number: s.Index, Start: start, Size: size, Filesystem: s.Filesystem, PartUUID: uuid.NewString()})
		start = roundUp(start+size, align)
	}
	return parts, nil
}

func partType(fs *Filesystem) gpt.Type {
	switch {
	case fs == nil:
		return gpt.LinuxFilesystem
	case fs.Type == "swap":
		return gpt.LinuxSwap
	case fs.Type == "vfat" && (fs.MountPoint == "/boot/efi" || fs.MountPoint == "/efi"):
		return gpt.EFISystemPartition
	}
	return gpt.LinuxFilesystem
}

// Apply writes a GPT with the disk's slices on dev, makes the kernel read it, and makes the
// file systems. Whatever dev held is gone. It refuses a device the kernel says is in use (a
// mounted file system, swap, a holder such as LVM): the device is opened exclusively.
func Apply(ctx context.Context, d Disk, dev BlockDevice, opts Options) ([]Partition, error) {
	if err := fits(d, dev); err != nil {
		return nil, err
	}
	parts, err := plan(d, dev.Size)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(dev.Path, os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("disk %s: open %s: %w (in use? a mounted file system, active swap or a device-mapper holder keeps it)", d.Name, dev.Path, err)
	}
	defer f.Close()
	if err := wipe(f, dev.Size); err != nil {
		return nil, fmt.Errorf("disk %s: wipe %s: %w", d.Name, dev.Path, err)
	}
	table := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, GUID: uuid.NewString()}
	for _, p := range parts {
		table.Partitions = append(table.Partitions, &gpt.Partition{
			Index: p.Number, Start: uint64(p.Start / sector), End: uint64((p.Start+p.Size)/sector - 1), Size: uint64(p.Size),
			Type: partType(p.Filesystem), Name: p.Slice, GUID: p.PartUUID,
		})
	}
	if opts.BIOSBoot {
		table.Partitions = append(table.Partitions, &gpt.Partition{
			Index: len(parts) + 1, Start: biosBootStart, End: biosBootEnd, Size: (biosBootEnd - biosBootStart + 1) * sector,
			Type: gpt.BIOSBoot, Name: "bios-boot", GUID: uuid.NewString(),
		})
	}
	if err := table.Write(f, dev.Size); err != nil {
		return nil, fmt.Errorf("disk %s: write the GPT on %s: %w", d.Name, dev.Path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("disk %s: sync %s: %w", d.Name, dev.Path, err)
	}
	if err := tellKernel(f, dev, parts); err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Name, err)
	}
	settle := opts.Settle
	if settle == 0 {
		settle = 5 * time.Second
	}
	for i := range parts {
		parts[i].Device = partitionPath(dev.Path, parts[i].Number)
		if err := waitFor(ctx, parts[i].Device, settle); err != nil {
			return nil, fmt.Errorf("disk %s: slice %s: %w", d.Name, parts[i].Slice, err)
		}
	}
	// mkfs opens each partition exclusively, which the kernel refuses while the whole disk
	// is held so.
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("disk %s: close %s: %w", d.Name, dev.Path, err)
	}
	for _, p := range parts {
		if p.Filesystem == nil {
			continue
		}
		if err := mkfs(ctx, p); err != nil {
			return nil, fmt.Errorf("disk %s: slice %s: %w", d.Name, p.Slice, err)
		}
	}
	return parts, nil
}

// tellKernel makes the kernel see the new partitions. It asks it to read the table again
// (BLKRRPART), then adds each partition it did not find itself (BLKPG, as partx does): a
// kernel built without GPT support (some VM kernels) and a disk whose old partitions are
// still held both leave BLKRRPART without effect.
func tellKernel(f *os.File, dev BlockDevice, parts []Partition) error {
	reread := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	for _, p := range parts {
		if _, err := os.Stat(partitionPath(dev.Path, p.Number)); err == nil {
			continue
		}
		part := unix.BlkpgPartition{Start: p.Start, Length: p.Size, Pno: int32(p.Number)}
		arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
			return fmt.Errorf("add partition %d of %s to the kernel: %w (re-reading the table: %v)", p.Number, dev.Path, errno, reread)
		}
	}
	return nil
}

// Wipe makes a disk that was laid out unbootable and its layout unreadable, for an install
// that must not count (a section whose digest did not match): it zeroes the first and last
// MiB, as Apply does before it writes, and makes the kernel read the now empty table. Like
// Apply it refuses a device in use: unmount its file systems first.
func Wipe(dev BlockDevice) error {
	f, err := os.OpenFile(dev.Path, os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("wipe %s: %w", dev.Path, err)
	}
	defer f.Close()
	if err := wipe(f, dev.Size); err != nil {
		return fmt.Errorf("wipe %s: %w", dev.Path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wipe %s: sync: %w", dev.Path, err)
	}
	// A kernel that keeps the old partitions until the next boot does no harm: the disk's
	// table, which the firmware reads, is gone.
	_ = unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0)
	return f.Close()
}

// wipe zeroes the first and last MiB: old partition tables (both GPT copies, an MBR) and
// the superblocks of a file system that started at the disk's beginning.
func wipe(f *os.File, size int64) error {
	zero := make([]byte, align)
	if _, err := f.WriteAt(zero, 0); err != nil {
		return err
	}
	if size > 2*align {
		if _, err := f.WriteAt(zero, size-align); err != nil {
			return err
		}
	}
	return nil
}

// partitionPath is the kernel's name for partition n of disk: vda1, nvme0n1p1, loop0p1.
func partitionPath(disk string, n int) string {
	if last := disk[len(disk)-1]; last >= '0' && last <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}
	return fmt.Sprintf("%s%d", disk, n)
}

func waitFor(ctx context.Context, path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s of the partition table being read", path, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mkfs makes a slice's file system with the tool the initramfs carries for it.
func mkfs(ctx context.Context, p Partition) error {
	fs := p.Filesystem
	var args []string
	switch fs.Type {
	case "ext4":
		args = []string{"mkfs.ext4", "-F", "-q"}
		if fs.Label != "" {
			args = append(args, "-L", fs.Label)
		}
	case "xfs":
		args = []string{"mkfs.xfs", "-f", "-q"}
		if fs.Label != "" {
			args = append(args, "-L", fs.Label)
		}
	case "vfat":
		args = []string{"mkfs.vfat"}
		if p.Size >= 512<<20 {
			args = append(args, "-F", "32") // what UEFI firmware is required to read
		}
		if fs.Label != "" {
			args = append(args, "-n", strings.ToUpper(fs.Label))
		}
	case "swap":
		args = []string{"mkswap"}
		if fs.Label != "" {
			args = append(args, "-L", fs.Label)
		}
	default:
		return fmt.Errorf("file system type %q: the agent makes ext4, xfs, vfat and swap", fs.Type)
	}
	args = append(args, p.Device)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s on %s: %w: %s", filepath.Base(args[0]), p.Device, err, strings.TrimSpace(out.String()))
	}
	return nil
}
