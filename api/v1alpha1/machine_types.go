package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MachineSpec describes the hardware of a site as the seed's machine model does: shelves hold
// switches and drawers; a drawer holds disks (with slices and file systems) and boards (with
// NICs, each linked to a port of a switch of the same shelf).
type MachineSpec struct {
	// shelves are the chassis of the site.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Shelves []Shelf `json:"shelves,omitempty"`
}

// Shelf is a chassis.
// +kubebuilder:validation:XValidation:rule=`!has(self.drawers) || self.drawers.all(d, !has(d.boards) || d.boards.all(b, !has(b.nics) || b.nics.all(n, !has(n.link) || (has(self.switches) && self.switches.exists(s, s.name == n.link.switch)))))`,message=`drawers[].boards[].nics[].link.switch: a NIC is cabled to a switch this shelf does not have: name one of its switches`,messageExpression=`self.drawers.map(d, has(d.boards) && d.boards.exists(b, has(b.nics) && b.nics.exists(n, has(n.link) && !(has(self.switches) && self.switches.exists(s, s.name == n.link.switch)))) ? 'drawers[%s].%s'.format([d.name, d.boards.map(b, has(b.nics) && b.nics.exists(n, has(n.link) && !(has(self.switches) && self.switches.exists(s, s.name == n.link.switch))) ? 'boards[%s].%s'.format([b.name, b.nics.map(n, has(n.link) && !(has(self.switches) && self.switches.exists(s, s.name == n.link.switch)) ? 'nics[%s].link.switch: switch %s is not a switch of shelf %s: cable the NIC to one of its switches (%s)'.format([n.name, n.link.switch, self.name, has(self.switches) ? self.switches[0].name + (self.switches.size() > 1 ? ', ' + self.switches[1].name : "") + (self.switches.size() > 2 ? ', ' + self.switches[2].name : "") + (self.switches.size() > 3 ? ', ' + self.switches[3].name : "") + (self.switches.size() > 4 ? ', ' + self.switches[4].name : "") + (self.switches.size() > 5 ? ', ' + self.switches[5].name : "") + (self.switches.size() > 6 ? ', ' + self.switches[6].name : "") + (self.switches.size() > 7 ? ', ' + self.switches[7].name : "") : 'none']) : "").filter(m, m != "")[0]]) : "").filter(m, m != "")[0]]) : "").filter(m, m != "")[0]`
// +kubebuilder:validation:XValidation:rule=`!has(self.drawers) || !has(self.switches) || self.drawers.all(d, !has(d.boards) || d.boards.all(b, !has(b.nics) || b.nics.all(n, !has(n.link) || self.switches.all(s, s.name != n.link.switch || n.link.port <= s.ports))))`,message=`drawers[].boards[].nics[].link.port: a NIC is cabled to a port beyond the ports of its switch: use a port the switch has`,messageExpression=`self.drawers.map(d, has(d.boards) && d.boards.exists(b, has(b.nics) && b.nics.exists(n, has(n.link) && self.switches.exists(s, s.name == n.link.switch && n.link.port > s.ports))) ? 'drawers[%s].%s'.format([d.name, d.boards.map(b, has(b.nics) && b.nics.exists(n, has(n.link) && self.switches.exists(s, s.name == n.link.switch && n.link.port > s.ports)) ? 'boards[%s].%s'.format([b.name, b.nics.map(n, has(n.link) && self.switches.exists(s, s.name == n.link.switch && n.link.port > s.ports) ? 'nics[%s].link.port: port %d is beyond the %d ports of switch %s/%s: use a port from 1 to %d'.format([n.name, n.link.port, self.switches.filter(s, s.name == n.link.switch)[0].ports, self.name, n.link.switch, self.switches.filter(s, s.name == n.link.switch)[0].ports]) : "").filter(m, m != "")[0]]) : "").filter(m, m != "")[0]]) : "").filter(m, m != "")[0]`
type Shelf struct {
	// name of the shelf; a node's drawer is named shelf/drawer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// switches are the shelf's Ethernet switches; its NICs are cabled to them.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Switches []Switch `json:"switches,omitempty"`
	// drawers are the shelf's slots, one computer each.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Drawers []Drawer `json:"drawers,omitempty"`
}

// Switch is an Ethernet switch of a shelf; its ports are numbered from 1.
type Switch struct {
	// name of the switch, unique on its shelf.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// ports is the number of ports.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=512
	Ports int32 `json:"ports,omitempty"`
	// relayAgent says how the DHCP relay agent of this switch (the switch itself, or a relay
	// beside it) names its ports in option 82, so that the install server finds a node by the
	// port it is cabled to, whatever MAC it boots with; absent, the install server knows the
	// ports by its own two forms (docs/install-server.md).
	// +optional
	RelayAgent *RelayAgent `json:"relayAgent,omitempty"`
}

// RelayAgent is what a switch's relay agent sends in option 82 for one of its ports.
// +kubebuilder:validation:XValidation:rule=`self.circuitID.contains('{port}')`,message=`circuitID: the template names no port: put {port} where the port number goes (Gi1/0/{port}, or p{port} for ISC dhcrelay -a on interfaces named p1, p2…)`
type RelayAgent struct {
	// circuitID is the circuit-id the agent sends, with {port} for the port number
	// (Gi1/0/{port}); ISC dhcrelay -a sends the name of the interface the request came in on.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	CircuitID string `json:"circuitID,omitempty"`
	// remoteID is the remote-id the agent adds, when it adds one; it tells apart two switches
	// whose ports have the same circuit-ids.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	RemoteID string `json:"remoteID,omitempty"`
}

// Drawer is a slot of a shelf that holds one computer: a node runs on a drawer.
type Drawer struct {
	// name of the drawer, unique on its shelf.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// disks are the drawer's block devices; a Diskless node needs none.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	// +optional
	Disks []Disk `json:"disks,omitempty"`
	// boards are the drawer's computers; a node runs on the first.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=2
	// +optional
	Boards []Board `json:"boards,omitempty"`
}

// Disk is a block device of a drawer, cut into slices (partitions).
// +kubebuilder:validation:XValidation:rule=`!has(self.slices) || !isQuantity(self.size) || self.slices.all(s, !has(s.size) || !isQuantity(s.size) || quantity(s.size).compareTo(quantity(self.size)) <= 0)`,message=`slices[].size: a slice is larger than its disk: shrink the slice or correct the size of the disk`,messageExpression=`self.slices.filter(s, has(s.size) && isQuantity(s.size) && quantity(s.size).compareTo(quantity(self.size)) > 0).map(s, 'slices[%s].size: slice %s (%s) is larger than disk %s (%s): shrink the slice or correct the disk\'s size'.format([s.name, s.name, s.size, self.name, self.size]))[0]`
// +kubebuilder:validation:XValidation:rule=`!has(self.slices) || !isQuantity(self.size) || self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asApproximateFloat()).sum() <= quantity(self.size).asApproximateFloat()`,message=`slices: the slices' sizes add up to more than the disk's size: shrink a slice or correct the disk's size`,messageExpression=`'slices: the slices of disk %s add up to %s, more than its %s: shrink a slice or correct the disk\'s size'.format([self.name, (self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() % 1125899906842624 == 0 ? '%dPi'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() / 1125899906842624]) : (self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() % 1099511627776 == 0 ? '%dTi'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() / 1099511627776]) : (self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() % 1073741824 == 0 ? '%dGi'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() / 1073741824]) : (self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() % 1048576 == 0 ? '%dMi'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() / 1048576]) : (self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() % 1024 == 0 ? '%dKi'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum() / 1024]) : '%d'.format([self.slices.filter(s, has(s.size) && isQuantity(s.size)).map(s, quantity(s.size).asInteger()).sum()])))))), (quantity(self.size).asInteger() % 1125899906842624 == 0 ? '%dPi'.format([quantity(self.size).asInteger() / 1125899906842624]) : (quantity(self.size).asInteger() % 1099511627776 == 0 ? '%dTi'.format([quantity(self.size).asInteger() / 1099511627776]) : (quantity(self.size).asInteger() % 1073741824 == 0 ? '%dGi'.format([quantity(self.size).asInteger() / 1073741824]) : (quantity(self.size).asInteger() % 1048576 == 0 ? '%dMi'.format([quantity(self.size).asInteger() / 1048576]) : (quantity(self.size).asInteger() % 1024 == 0 ? '%dKi'.format([quantity(self.size).asInteger() / 1024]) : '%d'.format([quantity(self.size).asInteger()]))))))])`
// +kubebuilder:validation:XValidation:rule=`!has(self.slices) || self.slices.filter(s, !has(s.size)).size() <= 1`,message=`slices: more than one slice has no size, but only one slice may take the rest of the disk: give all but one a size`,messageExpression=`'slices: slices %s of disk %s have no size, but only one slice may take the rest of the disk: give all but one a size'.format([self.slices.filter(s, !has(s.size))[0].name + (self.slices.filter(s, !has(s.size)).size() > 1 ? ', ' + self.slices.filter(s, !has(s.size))[1].name : "") + (self.slices.filter(s, !has(s.size)).size() > 2 ? ', ' + self.slices.filter(s, !has(s.size))[2].name : "") + (self.slices.filter(s, !has(s.size)).size() > 3 ? ', ' + self.slices.filter(s, !has(s.size))[3].name : "") + (self.slices.filter(s, !has(s.size)).size() > 4 ? ', ' + self.slices.filter(s, !has(s.size))[4].name : "") + (self.slices.filter(s, !has(s.size)).size() > 5 ? ', ' + self.slices.filter(s, !has(s.size))[5].name : "") + (self.slices.filter(s, !has(s.size)).size() > 6 ? ', ' + self.slices.filter(s, !has(s.size))[6].name : "") + (self.slices.filter(s, !has(s.size)).size() > 7 ? ', ' + self.slices.filter(s, !has(s.size))[7].name : "") + (self.slices.filter(s, !has(s.size)).size() > 8 ? ', ' + self.slices.filter(s, !has(s.size))[8].name : "") + (self.slices.filter(s, !has(s.size)).size() > 9 ? ', ' + self.slices.filter(s, !has(s.size))[9].name : "") + (self.slices.filter(s, !has(s.size)).size() > 10 ? ', ' + self.slices.filter(s, !has(s.size))[10].name : "") + (self.slices.filter(s, !has(s.size)).size() > 11 ? ', ' + self.slices.filter(s, !has(s.size))[11].name : "") + (self.slices.filter(s, !has(s.size)).size() > 12 ? ', ' + self.slices.filter(s, !has(s.size))[12].name : "") + (self.slices.filter(s, !has(s.size)).size() > 13 ? ', ' + self.slices.filter(s, !has(s.size))[13].name : "") + (self.slices.filter(s, !has(s.size)).size() > 14 ? ', ' + self.slices.filter(s, !has(s.size))[14].name : "") + (self.slices.filter(s, !has(s.size)).size() > 15 ? ', ' + self.slices.filter(s, !has(s.size))[15].name : ""), self.name])`
// +kubebuilder:validation:XValidation:rule=`!has(self.slices) || self.slices.all(s, self.slices.exists_one(t, t.index == s.index))`,message=`slices[].index: two slices share a partition index: give each slice its own index`,messageExpression=`self.slices.map(x, self.slices.filter(y, y.index == x.index)).filter(l, l.size() > 1).map(l, 'slices[%s].index: partition index %d is already used by slice %s of disk %s: give each slice its own index'.format([l[1].name, l[1].index, l[0].name, self.name]))[0]`
type Disk struct {
	// name of the disk, unique in its drawer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// device is the kernel's name for it on the node.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^/dev/[-_/a-zA-Z0-9]+$`
	// +kubebuilder:validation:MaxLength=128
	Device string `json:"device,omitempty"`
	// serial is the serial number the disk reports (what /sys/block/<dev>/serial or the
	// SCSI/NVMe identity shows). Given, the node agent lays out the disk with that serial and
	// no other, whatever its kernel name: names follow probe order, serials do not.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[!-~]([ -~]*[!-~])?$`
	// +optional
	Serial string `json:"serial,omitempty"`
	// busPath is where the disk sits on the node's buses, as sysfs shows it below
	// /sys/devices without the block/<dev> tail (pci0000:00/0000:00:04.0/virtio1). Given, and
	// no serial, the node agent finds the disk by it: it names a slot, not a probe order.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[-_.:+a-zA-Z0-9]+(/[-_.:+a-zA-Z0-9]+)*$`
	// +optional
	BusPath string `json:"busPath,omitempty"`
	// size is the disk's capacity, as a quantity (480Gi).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	Size string `json:"size,omitempty"`
	// slices are the disk's partitions.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Slices []Slice `json:"slices,omitempty"`
}

// Slice is a partition of a disk, with an optional file system.
type Slice struct {
	// name of the slice, unique on its disk.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// index is the partition number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	Index int32 `json:"index,omitempty"`
	// size as a quantity; omitted, the slice takes the rest of the disk.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Size *string `json:"size,omitempty"`
	// filesystem is what the slice is formatted with; absent, the slice is left raw.
	// +optional
	Filesystem *Filesystem `json:"filesystem,omitempty"`
}

// FilesystemType is a file system the agent can create.
// +kubebuilder:validation:Enum=ext4;xfs;vfat;swap
type FilesystemType string

// Filesystem is what a slice is formatted with and where it is mounted.
// +kubebuilder:validation:XValidation:rule=`self.type == 'swap' || has(self.mountPoint)`,message=`mountPoint: every file system but swap is mounted: set mountPoint`,messageExpression=`'mountPoint: a file system of type %s is mounted, and this one has no mount point: set mountPoint (such as /var), or make it swap'.format([self.type])`
// +kubebuilder:validation:XValidation:rule=`self.type != 'swap' || !has(self.mountPoint)`,message=`mountPoint: swap is never mounted: remove mountPoint`,messageExpression=`'mountPoint: swap is never mounted, yet mountPoint is %s: remove mountPoint'.format([self.mountPoint])`
type Filesystem struct {
	// type is the file system the agent creates.
	// +required
	Type FilesystemType `json:"type,omitempty"`
	// mountPoint is where it is mounted; every type but swap has one.
	// +kubebuilder:validation:Pattern=`^/[-_./a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=256
	// +optional
	MountPoint string `json:"mountPoint,omitempty"`
	// label is the file system's label.
	// +kubebuilder:validation:MaxLength=16
	// +optional
	Label string `json:"label,omitempty"`
	// options are its mount options, as fstab lists them.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	// +optional
	Options []string `json:"options,omitempty"`
}

// Firmware is how a board boots from the network.
// +kubebuilder:validation:Enum=BIOS;UEFI
type Firmware string

// Board is the computer of a drawer.
// +kubebuilder:validation:XValidation:rule=`!has(self.nics) || self.nics.all(n, self.nics.exists_one(m, m.mac == n.mac))`,message=`nics[].mac: two NICs of the board share a MAC address: MAC addresses must be unique in the Machine`,messageExpression=`self.nics.map(x, self.nics.filter(y, y.mac == x.mac)).filter(l, l.size() > 1).map(l, 'nics[%s].mac: MAC %s is already the MAC of NIC %s of board %s: MAC addresses must be unique in the Machine'.format([l[1].name, l[1].mac, l[0].name, self.name]))[0]`
type Board struct {
	// name of the board, unique in its drawer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// arch is the board's CPU architecture; a node's group must have the same.
	// +required
	Arch Arch `json:"arch,omitempty"`
	// firmware is how the board boots from the network.
	// +kubebuilder:default=UEFI
	// +optional
	Firmware Firmware `json:"firmware,omitempty"`
	// nics are the board's Ethernet interfaces.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	// +optional
	NICs []NIC `json:"nics,omitempty"`
}

// NIC is an Ethernet interface of a board.
type NIC struct {
	// name is the interface's name on the node (eth0).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z][-_.a-z0-9]*$`
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name,omitempty"`
	// mac is the interface's MAC address: six lowercase hex octets, colon-separated. It is
	// checked by a rule rather than a pattern, under a bound well above its 17 characters, so
	// that a MAC of seven octets is told what is wrong with it, not only that it is too long.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9a-f]{2}:){5}[0-9a-f]{2}$')`,message=`the MAC is not six two-digit hex octets separated by colons: write it like 02:00:00:00:00:01`,messageExpression=`self.contains(':') && self.split(':').size() != 6 ? 'MAC %s has %d octets, not six: write six two-digit hex octets separated by colons, like 02:00:00:00:00:01'.format([self, self.split(':').size()]) : self.lowerAscii().matches('^([0-9a-f]{2}:){5}[0-9a-f]{2}$') ? 'MAC %s has upper-case hex digits: write it in lower case, %s'.format([self, self.lowerAscii()]) : 'MAC %s is not six two-digit hex octets separated by colons: write it like 02:00:00:00:00:01'.format([self])`
	MAC string `json:"mac,omitempty"`
	// link is the switch port the NIC is cabled to.
	// +optional
	Link *PortLink `json:"link,omitempty"`
}

// PortLink names a port of a switch of the same shelf.
type PortLink struct {
	// switch names a switch of the NIC's shelf.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Switch string `json:"switch,omitempty"`
	// port is the port's number on the switch, from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=512
	Port int32 `json:"port,omitempty"`
}

// MachineStatus says whether the hardware model holds together and who uses it.
type MachineStatus struct {
	// conditions are Valid (the rules inside the Machine) and InUse.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// usedBy lists the Clusters that reference this Machine.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	UsedBy []string `json:"usedBy,omitempty"`
	// drawers is the number of drawers, for display.
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
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the hardware.
	// +optional
	Spec MachineSpec `json:"spec,omitempty"`
	// status says whether it holds together and who uses it.
	// +optional
	Status MachineStatus `json:"status,omitempty"`
}

// MachineList is a list of Machines.
// +kubebuilder:object:root=true
type MachineList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Machines.
	Items []Machine `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Machine{}, &MachineList{})
}
