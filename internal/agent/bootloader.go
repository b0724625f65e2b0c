package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// The boot loader is the archive's own GRUB: its modules (grub-pc-bin for BIOS,
// grub-efi-amd64-bin for UEFI) and its grub-mkimage and grub-bios-setup (grub-common), run
// chrooted in the installed root. The agent writes grub.cfg itself, from what it laid out: it
// knows the kernel, the root's partition and the file system that holds /boot, and needs no
// grub-probe guessing at a disk it has just made.

// bootPlatform is what GRUB needs for one firmware.
type bootPlatform struct {
	target  string   // grub-mkimage -O
	modules []string // built into the core image, enough to find and read /boot
}

var platforms = map[string]bootPlatform{
	"BIOS": {"i386-pc", []string{"biosdisk", "part_gpt", "part_msdos", "ext2", "xfs", "search_fs_uuid"}},
	"UEFI": {"x86_64-efi", []string{"part_gpt", "part_msdos", "ext2", "xfs", "fat", "search_fs_uuid"}},
}

// bootLoader installs GRUB for the plan's firmware and writes its configuration: one entry
// that boots the archive's newest kernel with the root by PARTUUID.
func (in *install) bootLoader(ctx context.Context) error {
	if in.cfg.NoBootLoader || in.cfg.DirectoryRoot {
		in.log.Info("boot loader not installed: this node is simulated")
		return nil
	}
	firmware := in.plan.Firmware
	if firmware == "" {
		firmware = "UEFI"
	}
	pf, ok := platforms[firmware]
	if !ok {
		return fmt.Errorf("firmware %q: the agent installs GRUB for BIOS and UEFI", firmware)
	}
	root := in.cfg.Target
	modDir := filepath.Join(root, "usr/lib/grub", pf.target)
	if _, err := os.Stat(filepath.Join(modDir, "normal.mod")); err != nil {
		pkg := map[string]string{"BIOS": "grub-pc-bin", "UEFI": "grub-efi-amd64-bin"}[firmware]
		return fmt.Errorf("the archive holds no GRUB for %s (/usr/lib/grub/%s): build it with %s and grub-common", firmware, pf.target, pkg)
	}
	kernel, initrd, err := newestKernel(filepath.Join(root, "boot"))
	if err != nil {
		return err
	}
	rootPart, ok := in.partitionAt("/")
	if !ok {
		return errors.New("no partition is mounted at /")
	}
	bootPart, rel := in.holding("/boot")
	uuid, err := fsUUID(bootPart.Device, bootPart.Filesystem.Type)
	if err != nil {
		return fmt.Errorf("the file system of /boot (%s): %w", bootPart.Device, err)
	}
	grubDir := filepath.Join(root, "boot/grub")
	if err := os.MkdirAll(grubDir, 0o755); err != nil {
		return err
	}
	cfg := grubConfig(in.resp.Archive.Name, in.resp.Archive.Digest, uuid, rel, kernel, initrd, rootPart.PartUUID)
	if _, err := os.Stat(filepath.Join(root, IPXEKernel)); err == nil && firmware == "BIOS" {
		// The resident agent's way back to the network when the node is told to reinstall.
		cfg += netbootEntry(uuid, rel)
	}
	if err := os.WriteFile(filepath.Join(grubDir, "grub.cfg"), []byte(cfg), 0o644); err != nil {
		return err
	}
	// GRUB rewrites its environment block in place and never makes it: the one-shot
	// next_entry of a reinstall needs it there.
	if err := os.WriteFile(filepath.Join(grubDir, "grubenv"), grubEnv(nil), 0o644); err != nil {
		return err
	}
	// The modules GRUB loads after its core image, from the file system it finds by UUID.
	if err := copyDir(modDir, filepath.Join(grubDir, pf.target)); err != nil {
		return fmt.Errorf("copy the GRUB modules: %w", err)
	}
	early := fmt.Sprintf("search.fs_uuid %s root\nset prefix=($root)%s/grub\n", uuid, rel)
	if err := os.WriteFile(filepath.Join(grubDir, "early.cfg"), []byte(early), 0o644); err != nil {
		return err
	}
	prefix := rel + "/grub"
	return withChroot(root, func() error {
		switch firmware {
		case "BIOS":
			core := "/boot/grub/i386-pc/core.img"
			if err := chrootRun(ctx, root, append([]string{"grub-mkimage", "-O", pf.target, "-d", "/usr/lib/grub/" + pf.target,
				"-o", core, "-c", "/boot/grub/early.cfg", "-p", prefix}, pf.modules...)...); err != nil {
				return err
			}
			// The BIOS boot partition disklayout made takes the core image; the MBR's boot
			// code points at it.
			return chrootRun(ctx, root, "grub-bios-setup", "--directory=/boot/grub/i386-pc", bootPart.disk.Path)
		default:
			if _, ok := in.partitionAt("/boot/efi"); !ok {
				return errors.New("a UEFI node needs a vfat slice mounted at /boot/efi (the EFI system partition)")
			}
			// The image the NVRAM entry boots (bootentry.go), and the same at the
			// removable-media path, which firmware boots without an entry.
			loader := "/boot/efi" + strings.ReplaceAll(EFILoader, `\`, "/")
			for _, dir := range []string{path.Dir(loader), "/boot/efi/EFI/BOOT"} {
				if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
					return err
				}
			}
			if err := chrootRun(ctx, root, append([]string{"grub-mkimage", "-O", pf.target, "-d", "/usr/lib/grub/" + pf.target,
				"-o", loader, "-c", "/boot/grub/early.cfg", "-p", prefix}, pf.modules...)...); err != nil {
				return err
			}
			b, err := os.ReadFile(filepath.Join(root, loader))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(root, "boot/efi/EFI/BOOT/BOOTX64.EFI"), b, 0o644)
		}
	})
}

func grubConfig(name, digest, uuid, rel, kernel, initrd, rootPartUUID string) string {
	return fmt.Sprintf(`# Written by flarecast-agent: this node boots archive %[1]s (%[2]s).
set timeout=1
set default=0
# A one-shot entry (grub-reboot, or the resident agent told to reinstall): booted once.
if [ -s $prefix/grubenv ]; then
	load_env
fi
if [ "${next_entry}" ]; then
	set default="${next_entry}"
	set next_entry=
	save_env next_entry
fi
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry '%[1]s' --id flarecast {
	search --no-floppy --fs-uuid --set=root %[3]s
	linux %[4]s/%[5]s root=PARTUUID=%[7]s ro console=tty0 console=ttyS0,115200n8
	initrd %[4]s/%[6]s
}
`, name, digest, uuid, rel, kernel, initrd, rootPartUUID)
}

// netbootEntry boots the archive's iPXE (Debian's ipxe package), which asks the install
// server for the node's boot script: GRUB for BIOS loads it as a Linux kernel.
func netbootEntry(uuid, rel string) string {
	return fmt.Sprintf(`menuentry 'network boot (iPXE): ask the install server' --id %[3]s {
	search --no-floppy --fs-uuid --set=root %[1]s
	linux16 %[2]s/%[4]s
}
`, uuid, rel, NetbootEntry, path.Base(IPXEKernel))
}

// partitionAt is the partition mounted at mountPoint.
func (in *install) partitionAt(mountPoint string) (laidOut, bool) {
	for _, p := range in.parts {
		if p.Filesystem != nil && p.Filesystem.MountPoint == mountPoint {
			return p, true
		}
	}
	return laidOut{}, false
}

// holding is the partition whose file system holds dir, and dir's path inside it.
func (in *install) holding(dir string) (laidOut, string) {
	var best laidOut
	bestLen := -1
	for _, p := range in.parts {
		fs := p.Filesystem
		if fs == nil || fs.Type == "swap" || fs.MountPoint == "" {
			continue
		}
		mp := strings.TrimSuffix(fs.MountPoint, "/")
		if (dir == fs.MountPoint || strings.HasPrefix(dir, mp+"/")) && len(mp) > bestLen {
			best, bestLen = p, len(mp)
		}
	}
	return best, strings.TrimPrefix(dir, strings.TrimSuffix(best.Filesystem.MountPoint, "/"))
}

// newestKernel is the kernel of the highest version in bootDir with its initrd.
func newestKernel(bootDir string) (string, string, error) {
	entries, err := os.ReadDir(bootDir)
	if err != nil {
		return "", "", fmt.Errorf("the archive's /boot: %w", err)
	}
	var versions []string
	for _, e := range entries {
		if v, ok := strings.CutPrefix(e.Name(), "vmlinuz-"); ok {
			if _, err := os.Stat(filepath.Join(bootDir, "initrd.img-"+v)); err == nil {
				versions = append(versions, v)
			}
		}
	}
	if len(versions) == 0 {
		return "", "", errors.New("the archive holds no kernel with its initrd in /boot (vmlinuz-V and initrd.img-V): build it with linux-image-amd64 and initramfs-tools")
	}
	slices.SortFunc(versions, compareVersions)
	v := versions[len(versions)-1]
	return "vmlinuz-" + v, "initrd.img-" + v, nil
}

// compareVersions orders kernel versions by their numeric parts (6.1.0-10 after 6.1.0-9).
func compareVersions(a, b string) int {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '+' || r == '~' })
	}
	pa, pb := split(a), split(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := atoi(pa[i])
		nb, eb := atoi(pb[i])
		switch {
		case ea && eb && na != nb:
			return na - nb
		case !(ea && eb) && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return len(pa) - len(pb)
}

func atoi(s string) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, s != ""
}

// fsUUID reads the UUID of an ext4 or xfs file system from its superblock, as GRUB's
// search.fs_uuid and blkid show it.
func fsUUID(dev, fstype string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var off, uuidAt int64
	var magic []byte
	var magicAt int64
	switch fstype {
	case "ext4":
		off, magicAt, uuidAt, magic = 1024, 0x38, 0x68, []byte{0x53, 0xef}
	case "xfs":
		off, magicAt, uuidAt, magic = 0, 0, 32, []byte("XFSB")
	default:
		return "", fmt.Errorf("GRUB is given /boot on ext4 or xfs, not %s", fstype)
	}
	sb := make([]byte, 256)
	if _, err := f.ReadAt(sb, off); err != nil && err != io.EOF {
		return "", err
	}
	if !bytes.Equal(sb[magicAt:magicAt+int64(len(magic))], magic) {
		return "", fmt.Errorf("no %s superblock", fstype)
	}
	h := hex.EncodeToString(sb[uuidAt : uuidAt+16]) // in order on disk for both
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// copyDir copies the regular files of src (one level: GRUB's module directory) into dst.
func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// chrootRun runs a tool of the installed root in it, its output kept for the error.
func chrootRun(ctx context.Context, root string, args ...string) error {
	_, err := chrootOutput(ctx, root, args...)
	return err
}
