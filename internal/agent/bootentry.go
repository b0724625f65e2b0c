package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/flarecast/flarecast/internal/installplan"
)

// A UEFI node gets an NVRAM boot entry for the system it installed, first in BootOrder, so
// that firmware which boots only its entries (many servers do, ignoring the removable-media
// path of a disk) boots it. efibootmgr runs chrooted in the installed root, as GRUB's tools
// do: it is the archive's (the resident agent uses the same one to set BootNext for a
// reinstall), so the install server's initramfs carries no glibc program for it, only the
// efivarfs module. The removable-media path EFI/BOOT/BOOTX64.EFI stays beside it, a second
// way to boot the disk for firmware that lost or never kept the entry.

// EFILoader is GRUB's image on the EFI system partition that the NVRAM entry boots, as the
// firmware names it (backslashes, from the ESP's root); the same image as EFI/BOOT/BOOTX64.EFI.
const EFILoader = `\EFI\flarecast\grubx64.efi`

// efivarsMagic is efivarfs's statfs type (EFIVARFS_MAGIC).
const efivarsMagic = 0xde5e81e4

// bootEntryLabel is the NVRAM entry's label: flarecast and the node, as the firmware's boot
// menu shows it.
func bootEntryLabel(p installplan.Plan) string {
	if p.Cluster == "" {
		return "flarecast " + p.Node
	}
	return "flarecast " + p.Cluster + "/" + p.Node
}

// bootEntryStep writes the NVRAM entry of a UEFI install and reports it. A node that did
// not boot through UEFI (no /sys/firmware/efi: its NVRAM cannot be written from here), an
// archive without efibootmgr, or efibootmgr failing, leaves the node with the
// removable-media path only: that is reported, not fatal, since the firmware the install
// server netboots UEFI nodes from boots that path too.
func (in *install) bootEntryStep(ctx context.Context) error {
	if in.cfg.NoBootLoader || in.cfg.DirectoryRoot || (in.plan.Firmware != "" && in.plan.Firmware != "UEFI") {
		return nil
	}
	msg, err := in.bootEntry(ctx)
	if err != nil {
		in.log.Error("no NVRAM boot entry", "err", err)
		msg = fmt.Sprintf("no NVRAM boot entry (%v): the firmware must boot the disk's removable-media path EFI/BOOT/BOOTX64.EFI", err)
	}
	in.report(ctx, installplan.Event{Phase: installplan.PhaseConfiguring, Step: "boot entry", Message: msg})
	return nil
}

// bootEntry replaces the node's NVRAM entry (an earlier install's, which names a partition
// that is gone) with one for EFILoader on this ESP, first in BootOrder; the firmware's
// network entries stay in BootOrder after it. It says what it made.
func (in *install) bootEntry(ctx context.Context) (string, error) {
	if _, err := os.Stat(filepath.Join(in.cfg.Sysfs, "firmware/efi")); err != nil {
		return "", errors.New("the node did not boot through UEFI (no /sys/firmware/efi)")
	}
	esp, ok := in.partitionAt("/boot/efi")
	if !ok {
		return "", errors.New("no EFI system partition is mounted at /boot/efi")
	}
	root := in.cfg.Target
	if _, err := findTool(root, "efibootmgr"); err != nil {
		return "", fmt.Errorf("%w: build the archive with efibootmgr", err)
	}
	label := bootEntryLabel(in.plan)
	var listing string
	err := withChroot(root, func() error {
		vars := filepath.Join(root, "sys/firmware/efi/efivars")
		var st syscall.Statfs_t
		if err := syscall.Statfs(vars, &st); err != nil || uint32(st.Type) != efivarsMagic {
			if err := syscall.Mount("efivarfs", vars, "efivarfs", 0, ""); err != nil {
				return fmt.Errorf("mount efivarfs at %s: %w", vars, err)
			}
			defer syscall.Unmount(vars, syscall.MNT_DETACH)
		}
		out, err := chrootOutput(ctx, root, "efibootmgr", "-v")
		if err != nil {
			return err
		}
		for _, num := range staleBootEntries(out, label, EFILoader) {
			if _, err := chrootOutput(ctx, root, "efibootmgr", "--quiet", "--bootnum", num, "--delete-bootnum"); err != nil {
				return err
			}
		}
		// --create puts the new entry first in BootOrder and keeps the others after it.
		if _, err := chrootOutput(ctx, root, "efibootmgr", "--quiet", "--create", "--disk", esp.disk.Path, "--part", fmt.Sprint(esp.Number),
			"--loader", EFILoader, "--label", label); err != nil {
			return err
		}
		listing, err = chrootOutput(ctx, root, "efibootmgr", "-v")
		return err
	})
	if err != nil {
		return "", err
	}
	return describeBootEntry(listing, label, esp.Device)
}

// staleBootEntries are the entries an earlier install of this node (or of another node on
// the same machine) left: its label, or flarecast's loader path.
func staleBootEntries(listing, label, loader string) []string {
	var out []string
	for _, e := range bootEntries(listing) {
		if e.label == label || strings.Contains(strings.ToLower(e.path), strings.ToLower(loader)) {
			out = append(out, e.num)
		}
	}
	return out
}

// describeBootEntry checks efibootmgr's listing after the entry was made: it is there, first
// in BootOrder, and says which network entry the reinstall would boot.
func describeBootEntry(listing, label, esp string) (string, error) {
	var num string
	for _, e := range bootEntries(listing) {
		if e.label == label && e.active {
			num = e.num
		}
	}
	order := bootOrder(listing)
	if num == "" {
		return "", fmt.Errorf("efibootmgr lists no active entry %q after making it", label)
	}
	if len(order) == 0 || order[0] != num {
		return "", fmt.Errorf("entry Boot%s %q is not first in BootOrder %s", num, label, strings.Join(order, ","))
	}
	msg := fmt.Sprintf("Boot%s %q (%s on %s) first in BootOrder %s", num, label, EFILoader, esp, strings.Join(order, ","))
	if n, l, err := networkBootEntry(listing); err == nil {
		msg += fmt.Sprintf("; network entry Boot%s %q after it", n, l)
	} else {
		msg += "; " + err.Error()
	}
	return msg, nil
}

// bootEntry is one line of efibootmgr's listing.
type bootListEntry struct {
	num, label, path string
	active           bool
}

func bootEntries(listing string) []bootListEntry {
	var out []bootListEntry
	for _, line := range strings.Split(listing, "\n") {
		m := bootEntryLine.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		lbl, path, _ := strings.Cut(m[3], "\t")
		out = append(out, bootListEntry{num: strings.ToUpper(m[1]), label: strings.TrimSpace(lbl), path: path, active: m[2] == "*"})
	}
	return out
}

func bootOrder(listing string) []string {
	for _, line := range strings.Split(listing, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "BootOrder:"); ok {
			var order []string
			for _, n := range strings.Split(strings.TrimSpace(v), ",") {
				order = append(order, strings.ToUpper(strings.TrimSpace(n)))
			}
			return order
		}
	}
	return nil
}

// findTool is where a tool of the installed root is, as the root sees it.
func findTool(root, name string) (string, error) {
	// grub-bios-setup lives with the BIOS modules in Debian's grub-pc-bin.
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/lib/grub/i386-pc"} {
		if _, err := os.Stat(filepath.Join(root, dir, name)); err == nil {
			return filepath.Join(dir, name), nil
		}
	}
	return "", fmt.Errorf("the archive holds no %s", name)
}

// chrootOutput runs a tool of the installed root in it and returns its output, which an
// error also carries.
func chrootOutput(ctx context.Context, root string, args ...string) (string, error) {
	tool, err := findTool(root, args[0])
	if err != nil {
		return "", err
	}
	// An absolute path is not looked up on the agent's side: it is resolved after the chroot.
	cmd := exec.CommandContext(ctx, tool, args[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}
