package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MachineSpec describes the hardware of a site as the seed's machine model does: shelves hold
// switches and drawers; a drawer holds disks (with slices and file systems) and boards (with
// NICs, each linked to a port of a switch of the same shelf).
type MachineSpec struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Shelves []Shelf `json:"shelves,omitempty"`
}

// Shelf is a chassis.
// +kubebuilder:validation:XValidation:rule="!has(self.drawers) || self.drawers.all(d, !has(d.boards) || d.boards.all(b, !has(b.nics) || b.nics.all(n, !has(n.link) || (has(self.switches) && self.switches.exists(s, s.name == n.link.switch)))))",message="drawers[].boards[].nics[].link.switch: must name a switch of this shelf"
// +kubebuilder:validation:XValidation:rule="!has(self.drawers) || !has(self.switches) || self.drawers.all(d, !has(d.boards) || d.boards.all(b, !has(b.nics) || b.nics.all(n, !has(n.link) || self.switches.all(s, s.name != n.link.switch || n.link.port <= s.ports))))",message="drawers[].boards[].nics[].link.port: port index is beyond the number of ports of its switch"
type Shelf struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Switches []Switch `json:"switches,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Drawers []Drawer `json:"drawers,omitempty"`
}

// Switch is an Ethernet switch of a shelf; its ports are numbered from 1.
type Switch struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Ports is the number of ports.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=512
	Ports int32 `json:"ports"`
}

// Drawer is a slot of a shelf that holds one computer: a node runs on a drawer.
type Drawer struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	// +optional
	Disks []Disk `json:"disks,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=2
	// +optional
	Boards []Board `json:"boards,omitempty"`
}

// Disk is a block device of a drawer, cut into slices (partitions).
// +kubebuilder:validation:XValidation:rule="!has(self.slices) || !isQuantity(self.size) || self.slices.all(s, !has(s.size) || !isQuantity(s.size) || quantity(s.size).compareTo(quantity(self.size)) <= 0)",message="slices[].size: a slice is larger than its disk"
// +kubebuilder:validation:XValidation:rule="!has(self.slices) || !isQuantity(self.size) || self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asApproximateFloat()).sum() <= quantity(self.size).asApproximateFloat()",message="slices: the slices' sizes add up to more than the disk's size"
// +kubebuilder:validation:XValidation:rule="!has(self.slices) || self.slices.filter(s, !has(s.size)).size() <= 1",message="slices: at most one slice may omit its size (it takes the rest of the disk)"
// +kubebuilder:validation:XValidation:rule="!has(self.slices) || self.slices.all(s, self.slices.exists_one(t, t.index == s.index))",message="slices[].index: partition indexes must be unique on a disk"
type Disk struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Device is the kernel's name for it on the node.
	// +kubebuilder:validation:Pattern=`^/dev/[-_/a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=128
	Device string `json:"device"`
	// Size is the disk's capacity, as a quantity (480Gi).
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	Size string `json:"size"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Slices []Slice `json:"slices,omitempty"`
}

// Slice is a partition of a disk, with an optional file system.
type Slice struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Index is the partition number.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Index int32 `json:"index"`
	// Size as a quantity; omitted, the slice takes the rest of the disk.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Size *string `json:"size,omitempty"`
	// +optional
	Filesystem *Filesystem `json:"filesystem,omitempty"`
}

// FilesystemType is a file system the agent can create.
// +kubebuilder:validation:Enum=ext4;xfs;vfat;swap
type FilesystemType string

// Filesystem is what a slice is formatted with and where it is mounted.
// +kubebuilder:validation:XValidation:rule="self.type == 'swap' ? !has(self.mountPoint) : has(self.mountPoint)",message="mountPoint: required for every file system but swap, and forbidden for swap"
type Filesystem struct {
	Type FilesystemType `json:"type"`
	// +kubebuilder:validation:Pattern=`^/[-_./a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=256
	// +optional
	MountPoint string `json:"mountPoint,omitempty"`
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Label string `json:"label,omitempty"`
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Options []string `json:"options,omitempty"`
}

// Firmware is how a board boots from the network.
// +kubebuilder:validation:Enum=BIOS;UEFI
type Firmware string

// Board is the computer of a drawer.
// +kubebuilder:validation:XValidation:rule="!has(self.nics) || self.nics.all(n, self.nics.exists_one(m, m.mac == n.mac))",message="nics[].mac: MAC addresses must be unique on a board"
type Board struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	Arch Arch   `json:"arch"`
	// +kubebuilder:default=UEFI
	// +optional
	Firmware Firmware `json:"firmware,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	NICs []NIC `json:"nics,omitempty"`
}

// NIC is an Ethernet interface of a board.
type NIC struct {
	// +kubebuilder:validation:Pattern=`^[a-z][-_.a-z0-9]*$`
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name"`
	// +kubebuilder:validation:Pattern=`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`
	// +kubebuilder:validation:MaxLength=17
	MAC string `json:"mac"`
	// Link is the switch port the NIC is cabled to.
	// +optional
	Link *PortLink `json:"link,omitempty"`
}

// PortLink names a port of a switch of the same shelf.
type PortLink struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Switch string `json:"switch"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=512
	Port int32 `json:"port"`
}

// MachineStatus says whether the hardware model holds together and who uses it.
type MachineStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// UsedBy lists the Clusters that reference this Machine.
	// +optional
	UsedBy []string `json:"usedBy,omitempty"`
	// Drawers is the number of drawers, for display.
	// +optional
	Drawers int32 `json:"drawers,omitempty"`
}

// Machine is the hardware of a site: shelves, switches, drawers, disks, boards and NICs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fcm,categories=flarecast
// +kubebuilder:printcolumn:name="Drawers",type=integer,JSONPath=`.status.drawers`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Used-By",type=string,JSONPath=`.status.usedBy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Machine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MachineSpec   `json:"spec,omitempty"`
	Status MachineStatus `json:"status,omitempty"`
}

// MachineList is a list of Machines.
// +kubebuilder:object:root=true
type MachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Machine `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Machine{}, &MachineList{})
}
