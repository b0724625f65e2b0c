package agent

import (
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/installplan"
)

// ovmfAfterInstall is OVMF's NVRAM after an install of node n1 of cluster edge (Boot0006),
// with the entry of an earlier install of the same machine as node n9 (Boot0005, flarecast's
// loader on a partition that is gone) and OVMF's own entries.
const ovmfAfterInstall = `BootCurrent: 0002
Timeout: 0 seconds
BootOrder: 0006,0005,0001,0002,0003,0000
Boot0000* UiApp	FvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)
Boot0001* UEFI Misc Device	PciRoot(0x0)/Pci(0x3,0x0){auto_created_boot_option}
Boot0002* UEFI PXEv4 (MAC:525400FC0A01)	PciRoot(0x0)/Pci(0x2,0x0)/MAC(525400fc0a01,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0){auto_created_boot_option}
Boot0003* UEFI HTTPv4 (MAC:525400FC0A01)	PciRoot(0x0)/Pci(0x2,0x0)/MAC(525400fc0a01,0x1)/IPv4(0.0.0.0,0x0,DHCP,0.0.0.0,0.0.0.0,0.0.0.0)/Uri(){auto_created_boot_option}
Boot0005* flarecast edge/n9	HD(1,GPT,0f1e2d3c-0000-4000-8000-000000000009,0x800,0x100000)/File(\EFI\FLARECAST\GRUBX64.EFI)
Boot0006* flarecast edge/n1	HD(1,GPT,0f1e2d3c-0000-4000-8000-000000000001,0x800,0x100000)/File(\EFI\flarecast\grubx64.efi)
`

func TestAReinstallReplacesTheNodesEarlierBootEntries(t *testing.T) {
	label := bootEntryLabel(installplan.Plan{Cluster: "edge", Node: "n1"})
	if label != "flarecast edge/n1" {
		t.Fatalf("label %q", label)
	}
	// Before a new entry is made, every entry of flarecast's loader goes, whatever node it
	// named (the ESP it pointed at was laid out again), and OVMF's own stay.
	if got := strings.Join(staleBootEntries(ovmfAfterInstall, label, EFILoader), ","); got != "0005,0006" {
		t.Fatalf("stale entries %s, want 0005,0006", got)
	}
	// An entry of another system with the node's label goes too: the firmware menu would
	// show two of them.
	if got := staleBootEntries("Boot0007* flarecast edge/n1\tHD(2,GPT,x,0x1,0x2)/File(\\EFI\\debian\\shimx64.efi)\n", label, EFILoader); len(got) != 1 || got[0] != "0007" {
		t.Fatalf("an entry with the node's label: %v", got)
	}
}

func TestTheBootEntryIsFirstAndTheNetworkEntryStays(t *testing.T) {
	msg, err := describeBootEntry(ovmfAfterInstall, "flarecast edge/n1", "/dev/vda1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Boot0006 "flarecast edge/n1"`, `\EFI\flarecast\grubx64.efi on /dev/vda1`, "first in BootOrder 0006,0005,0001,0002,0003,0000",
		`network entry Boot0002 "UEFI PXEv4 (MAC:525400FC0A01)" after it`} {
		if !strings.Contains(msg, want) {
			t.Errorf("the report %q lacks %q", msg, want)
		}
	}
	notFirst := strings.Replace(ovmfAfterInstall, "BootOrder: 0006,0005", "BootOrder: 0005,0006", 1)
	if _, err := describeBootEntry(notFirst, "flarecast edge/n1", "/dev/vda1"); err == nil || !strings.Contains(err.Error(), "not first in BootOrder 0005,0006") {
		t.Fatalf("an entry not first: %v", err)
	}
	if _, err := describeBootEntry(ovmfAfterInstall, "flarecast edge/n2", "/dev/vda1"); err == nil || !strings.Contains(err.Error(), "no active entry") {
		t.Fatalf("no entry: %v", err)
	}
	// The node's own entry is never taken for a network one, whatever its name says.
	pxeNode := strings.ReplaceAll(ovmfAfterInstall, "edge/n1", "edge/pxe1")
	if num, _, err := networkBootEntry(pxeNode); err != nil || num != "0002" {
		t.Fatalf("a node named pxe1: the network entry is %s (%v), want 0002", num, err)
	}
}
