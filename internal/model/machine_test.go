package model

import (
	"testing"

	"github.com/flarecast/flarecast/api/v1alpha1"
)

func machineOnly(t *testing.T, in Input, want Problem, substrings ...string) {
	t.Helper()
	only(t, "ValidateMachine", ValidateMachine(in.Machines[0]), want, substrings...)
	// Resolve reports the Machine's problems too, so Valid=False reaches the Cluster.
	only(t, "Resolve", Resolve(in).ProblemsFor(KindMachine, "site"), want, substrings...)
}

func TestSlicesFitTheirDisk(t *testing.T) {
	in := site()
	size := "70Gi"
	drawerOf(in, "d1").Disks[0].Slices[2].Size = &size
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].slices", Reason: ReasonSlicesExceedDisk},
		"the slices of disk sda add up to 118Gi, more than its 100Gi")
}

func TestOneRestSliceAtMost(t *testing.T) {
	in := site()
	drawerOf(in, "d1").Disks[0].Slices[1].Size = nil
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].slices", Reason: ReasonMultipleRestSlices},
		"slices swap, var of disk sda have no size, but only one slice may take the rest")
}

func TestRestSliceGetsSomeSpace(t *testing.T) {
	in := site()
	drawerOf(in, "d1").Disks[0].Size = "48Gi"
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].slices[var].size", Reason: ReasonRestSliceEmpty},
		"slice var takes the rest of disk sda, but the other slices already use all of its 48Gi")
}

func TestSliceIndexUniqueOnDisk(t *testing.T) {
	in := site()
	drawerOf(in, "d1").Disks[0].Slices[2].Index = 1
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].slices[var].index", Reason: ReasonSliceIndexInUse},
		"partition index 1 is already used by slice root of disk sda")
}

func TestMountPointOncePerDrawer(t *testing.T) {
	in := site()
	drawerOf(in, "d1").Disks[0].Slices[2].Filesystem.MountPoint = "/"
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].slices[var].filesystem.mountPoint", Reason: ReasonMountPointInUse},
		"mount point / is already the mount point of slice sda/root on drawer shelf0/d1")
}

func TestDiskSizeIsAQuantity(t *testing.T) {
	in := site()
	drawerOf(in, "d1").Disks[0].Size = "big"
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d1].disks[sda].size", Reason: ReasonInvalidSize},
		`"big" is not a quantity such as 480Gi`)
}

func TestNICLinkedToSwitchOfItsShelf(t *testing.T) {
	in := site()
	drawerOf(in, "d2").Boards[0].NICs[0].Link.Switch = "sw7"
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].link.switch", Reason: ReasonUnknownSwitch},
		"switch sw7 is not a switch of shelf shelf0: cable the NIC to one of its switches (sw0)")
}

func TestPortBeyondSwitch(t *testing.T) {
	in := site()
	drawerOf(in, "d2").Boards[0].NICs[0].Link.Port = 25
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].link.port", Reason: ReasonPortOutOfRange},
		"port 25 is beyond the 24 ports of switch shelf0/sw0: use a port from 1 to 24")
}

func TestPortLinkedOnce(t *testing.T) {
	in := site()
	drawerOf(in, "d2").Boards[0].NICs[0].Link.Port = 1
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d2].boards[b0].nics[eth0].link.port", Reason: ReasonSwitchPortInUse},
		"port 1 of switch shelf0/sw0 is already linked to NIC eth0 of drawer shelf0/d1 board b0")
}

func TestMACUniqueAcrossMachine(t *testing.T) {
	in := site()
	drawerOf(in, "d3").Boards[0].NICs[0].MAC = "02:00:00:00:00:01"
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d3].boards[b0].nics[eth0].mac", Reason: ReasonDuplicateMAC},
		"MAC 02:00:00:00:00:01 is already the MAC of NIC eth0 of drawer shelf0/d1 board b0")
}

func TestMACUniqueOnBoard(t *testing.T) {
	in := site()
	b := &drawerOf(in, "d3").Boards[0]
	b.NICs = append(b.NICs, v1alpha1.NIC{Name: "eth1", MAC: b.NICs[0].MAC})
	machineOnly(t, in, Problem{Kind: KindMachine, Name: "site", Field: "spec.shelves[shelf0].drawers[d3].boards[b0].nics[eth1].mac", Reason: ReasonDuplicateMAC},
		"is already the MAC of NIC eth0 of drawer shelf0/d3 board b0")
}
