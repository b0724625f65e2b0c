package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// A node told to reinstall boots from the network once, without a BMC: on UEFI the firmware's
// BootNext variable names one of its network boot entries (efibootmgr --bootnext); on BIOS the
// GRUB the agent installed boots, once, the entry that chainloads the archive's iPXE
// (grub-reboot's next_entry in grubenv). Either way the disk stays bootable: a node whose
// network boot fails comes back on what it ran.

// NetbootEntry is the id of the GRUB entry that chainloads iPXE, written into grub.cfg when
// the archive holds IPXEKernel.
const NetbootEntry = "flarecast-netboot"

// IPXEKernel is where Debian's ipxe package leaves iPXE as a Linux-kernel image, which GRUB
// for BIOS loads with linux16; relative to the installed root.
const IPXEKernel = "boot/ipxe.lkrn"

// grubEnvSize is the size of GRUB's environment block, which GRUB rewrites in place.
const grubEnvSize = 1024

// NextBoot is how this node sets its next boot to the network.
type NextBoot struct {
	// Root is the installed system's root; Sysfs tells UEFI from BIOS (/sys/firmware/efi).
	Root, Sysfs string
	// BIOSNetworkFirst says the operator put the network first in a BIOS node's boot order
	// (each boot asks the install server, which answers BootLocal until the node is told):
	// then a reboot is enough when the archive holds no iPXE for GRUB.
	BIOSNetworkFirst bool
}

// Set makes the next boot a network boot, or says why it cannot.
func (nb NextBoot) Set(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(nb.Sysfs, "firmware/efi")); err == nil {
		out, err := exec.CommandContext(ctx, "efibootmgr", "-v").CombinedOutput()
		if err != nil {
			return fmt.Errorf("UEFI: efibootmgr -v: %w: %s", err, bytes.TrimSpace(out))
		}
		num, label, err := networkBootEntry(string(out))
		if err != nil {
			return fmt.Errorf("UEFI: %w", err)
		}
		if out, err := exec.CommandContext(ctx, "efibootmgr", "--bootnext", num).CombinedOutput(); err != nil {
			return fmt.Errorf("UEFI: efibootmgr --bootnext %s (%s): %w: %s", num, label, err, bytes.TrimSpace(out))
		}
		return nil
	}
	cfg, err := os.ReadFile(filepath.Join(nb.Root, "boot/grub/grub.cfg"))
	if err == nil && bytes.Contains(cfg, []byte("--id "+NetbootEntry+" ")) {
		return os.WriteFile(filepath.Join(nb.Root, "boot/grub/grubenv"), grubEnv(map[string]string{"next_entry": NetbootEntry}), 0o644)
	}
	if nb.BIOSNetworkFirst {
		return nil
	}
	return fmt.Errorf("BIOS: the installed GRUB has no %s entry (the archive holds no /%s: add Debian's ipxe package to it), and the boot order is not said to put the network first (--bios-network-first): a reboot would boot the disk again", NetbootEntry, IPXEKernel)
}

// bootEntryLine is one boot entry of efibootmgr's listing: Boot0003* label<TAB>device path
// (older efibootmgr, and -v, print the path after the label).
var bootEntryLine = regexp.MustCompile(`^Boot([0-9A-Fa-f]{4})(\*?) (.*)$`)

// networkBootEntry picks the firmware's network boot entry from efibootmgr -v: an active
// PXE over IPv4 entry first (the install server answers DHCPv4), then any other network
// entry (HTTP boot, IPv6), each in the order of BootOrder.
func networkBootEntry(listing string) (num, label string, err error) {
	type entry struct {
		num, label string
		rank, pos  int
	}
	order := bootOrder(listing)
	var found []entry
	for _, e := range bootEntries(listing) {
		if !e.active {
			continue
		}
		if rank := networkRank(e.label, e.path); rank >= 0 {
			found = append(found, entry{num: e.num, label: e.label, rank: rank})
		}
	}
	if len(found) == 0 {
		return "", "", errors.New("the firmware lists no active network boot entry (efibootmgr -v): enable PXE for the provisioning NIC in its setup")
	}
	for i := range found {
		found[i].pos = len(order)
		if p := slices.Index(order, found[i].num); p >= 0 {
			found[i].pos = p
		}
	}
	slices.SortStableFunc(found, func(a, b entry) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return a.pos - b.pos
	})
	return found[0].num, found[0].label, nil
}

// networkRank is 0 for PXE over IPv4, 1 for another network boot, -1 for a disk, a shell or
// the firmware's own menu.
func networkRank(label, path string) int {
	l, p := strings.ToLower(label), strings.ToLower(path)
	http := strings.Contains(l, "http") || strings.Contains(p, "uri(")
	v6 := strings.Contains(l, "ipv6") || strings.Contains(p, "ipv6(")
	switch {
	case strings.Contains(p, "hd("):
		// A partition's loader (flarecast's own entry, whose label names the node), whatever
		// its label says.
		return -1
	case (strings.Contains(l, "pxe") || strings.Contains(p, "ipv4(")) && !http && !v6:
		return 0
	case strings.Contains(l, "pxe") || strings.Contains(l, "network") || http || v6 || strings.Contains(p, "mac("):
		return 1
	}
	return -1
}

// grubEnv is GRUB's environment block with these variables, padded to its fixed size as
// grub-editenv writes it.
func grubEnv(vars map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# GRUB Environment Block\n")
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, vars[k])
	}
	for b.Len() < grubEnvSize {
		b.WriteByte('#')
	}
	return b.Bytes()
}
