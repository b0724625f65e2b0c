package model

// Reason names the rule a Problem breaks, one code per rule however many places check it. The
// controllers copy it into a condition's Reason, so it is CamelCase (what metav1.Condition
// accepts) and reads on its own in `kubectl get -o wide`; the message says the details.
type Reason string

// The cluster's references (ModelComplete).
const (
	// ReasonMachineRefMissing: the Cluster lists no Machine in spec.machineRefs yet.
	ReasonMachineRefMissing Reason = "MachineRefMissing"
	// ReasonMachineNotFound: a Machine spec.machineRefs names does not exist.
	ReasonMachineNotFound Reason = "MachineNotFound"
	// ReasonNetworkRefMissing: the Cluster has no spec.networkRef yet.
	ReasonNetworkRefMissing Reason = "NetworkRefMissing"
	// ReasonNetworkNotFound: the Network spec.networkRef names does not exist.
	ReasonNetworkNotFound Reason = "NetworkNotFound"
	// ReasonMachineDeleting: a Machine of the cluster is being deleted, held by its in-use
	// finalizer; the model keeps it (a warning).
	ReasonMachineDeleting Reason = "MachineDeleting"
	// ReasonNetworkDeleting: the cluster's Network is being deleted, held by its in-use
	// finalizer; the model keeps it (a warning).
	ReasonNetworkDeleting Reason = "NetworkDeleting"
	// ReasonNoNodesGroups: no NodesGroup names the Cluster yet.
	ReasonNoNodesGroups Reason = "NoNodesGroups"
	// ReasonNoNodes: a NodesGroup lists no nodes yet.
	ReasonNoNodes Reason = "NoNodes"
)

// Groups and node identities.
const (
	// ReasonMasterEligibleNotDiskfull: a Diskless or Dataless group is MasterEligible.
	ReasonMasterEligibleNotDiskfull Reason = "MasterEligibleNotDiskfull"
	// ReasonFilesystemsOnDiskless: a Diskless group requires file systems it has no disk for.
	ReasonFilesystemsOnDiskless Reason = "FilesystemsOnDiskless"
	// ReasonNotEnoughMasterEligibleNodes: fewer than two MasterEligible Diskfull nodes, so no
	// master and vice-master (a warning under masterEligiblePolicy: Warn).
	ReasonNotEnoughMasterEligibleNodes Reason = "NotEnoughMasterEligibleNodes"
	// ReasonDuplicateNodeName: a node name is used twice in a group or in the cluster.
	ReasonDuplicateNodeName Reason = "DuplicateNodeName"
	// ReasonDuplicateNodeID: a node id is used twice in a group or in the cluster.
	ReasonDuplicateNodeID Reason = "DuplicateNodeID"
	// ReasonNodeIDOutOfRange: a node id is below 1.
	ReasonNodeIDOutOfRange Reason = "NodeIDOutOfRange"
	// ReasonUnknownService: a group runs a service that is not a foundation service of its
	// Cluster.
	ReasonUnknownService Reason = "UnknownService"
	// ReasonDisklessSpecOnOtherType: a group that is not Diskless has spec.diskless.
	ReasonDisklessSpecOnOtherType Reason = "DisklessSpecOnOtherType"
	// ReasonPersistentWritesNeedNFSRoot: a Diskless group asks for a RAM root with
	// Persistent writes, which have no export to live in.
	ReasonPersistentWritesNeedNFSRoot Reason = "PersistentWritesNeedNFSRoot"
	// ReasonSharedDataOnDiskfull: a Diskfull group declares shared data (a group that mounts
	// shared data is Dataless).
	ReasonSharedDataOnDiskfull Reason = "SharedDataOnDiskfull"
	// ReasonSharedDataMountPointInUse: a shared data mount point is another entry's, or a
	// required file system of the group.
	ReasonSharedDataMountPointInUse Reason = "SharedDataMountPointInUse"
	// ReasonSharedDataHidesLocalFilesystem: a shared data mount point is, or is above, the
	// mount point of a slice of a node's drawer, which the shared mount would hide.
	ReasonSharedDataHidesLocalFilesystem Reason = "SharedDataHidesLocalFilesystem"
)

// Placement and storage.
const (
	// ReasonNodeNotPlaced: a node names no drawer yet (ModelComplete).
	ReasonNodeNotPlaced Reason = "NodeNotPlaced"
	// ReasonDrawerNotFound: a node's drawer, or its shelf, is not in its Machine.
	ReasonDrawerNotFound Reason = "DrawerNotFound"
	// ReasonDrawerNeedsMachine: a node names its drawer shelf/drawer in a cluster of several
	// Machines, so the drawer could be in any of them.
	ReasonDrawerNeedsMachine Reason = "DrawerNeedsMachine"
	// ReasonMachineNotReferenced: a node's drawer is on a Machine its Cluster does not list
	// in spec.machineRefs.
	ReasonMachineNotReferenced Reason = "MachineNotReferenced"
	// ReasonDrawerInUse: two nodes of the cluster name the same drawer.
	ReasonDrawerInUse Reason = "DrawerInUse"
	// ReasonNoBoardOnDrawer: a node's drawer holds no board to run it.
	ReasonNoBoardOnDrawer Reason = "NoBoardOnDrawer"
	// ReasonArchMismatch: a node's board is not of its group's arch.
	ReasonArchMismatch Reason = "ArchMismatch"
	// ReasonNoRootFilesystem: a node that boots from its disk has no slice mounted at /.
	ReasonNoRootFilesystem Reason = "NoRootFilesystem"
	// ReasonFilesystemMissing: a node's drawer has no slice at a group's required mount point.
	ReasonFilesystemMissing Reason = "FilesystemMissing"
	// ReasonFilesystemTooSmall: a required file system is smaller than its minSize.
	ReasonFilesystemTooSmall Reason = "FilesystemTooSmall"
)

// Disks and cabling, inside one Machine.
const (
	// ReasonInvalidSize: a disk, slice or minSize is not a quantity of bytes.
	ReasonInvalidSize Reason = "InvalidSize"
	// ReasonSliceIndexInUse: two slices of a disk share a partition index.
	ReasonSliceIndexInUse Reason = "SliceIndexInUse"
	// ReasonMountPointInUse: two slices of a drawer share a mount point.
	ReasonMountPointInUse Reason = "MountPointInUse"
	// ReasonSlicesExceedDisk: a disk's slices add up to more than the disk.
	ReasonSlicesExceedDisk Reason = "SlicesExceedDisk"
	// ReasonMultipleRestSlices: more than one slice of a disk has no size.
	ReasonMultipleRestSlices Reason = "MultipleRestSlices"
	// ReasonRestSliceEmpty: the slice that takes the rest of its disk is left nothing.
	ReasonRestSliceEmpty Reason = "RestSliceEmpty"
	// ReasonUnknownSwitch: a NIC is cabled to a switch its shelf does not have.
	ReasonUnknownSwitch Reason = "UnknownSwitch"
	// ReasonPortOutOfRange: a NIC is cabled to a port beyond its switch's ports.
	ReasonPortOutOfRange Reason = "PortOutOfRange"
	// ReasonSwitchPortInUse: two NICs are cabled to the same port.
	ReasonSwitchPortInUse Reason = "SwitchPortInUse"
	// ReasonDuplicateMAC: two NICs of one Machine, or of two Machines of a cluster, share a
	// MAC address.
	ReasonDuplicateMAC Reason = "DuplicateMAC"
)

// Networks, inside one Network and across the Machine.
const (
	// ReasonInvalidCIDR: a network's CIDR is not an IPv4 network address.
	ReasonInvalidCIDR Reason = "InvalidCIDR"
	// ReasonNetworksOverlap: two networks share addresses.
	ReasonNetworksOverlap Reason = "NetworksOverlap"
	// ReasonMultipleProvisioningNetworks: more than one network is marked provisioning.
	ReasonMultipleProvisioningNetworks Reason = "MultipleProvisioningNetworks"
	// ReasonUnknownRouter: a network names a router spec.routers does not have.
	ReasonUnknownRouter Reason = "UnknownRouter"
	// ReasonRouterOutsideNetwork: a network's router is outside it.
	ReasonRouterOutsideNetwork Reason = "RouterOutsideNetwork"
	// ReasonRouterAddressReserved: a network's router is its network or broadcast address.
	ReasonRouterAddressReserved Reason = "RouterAddressReserved"
	// ReasonSwitchNotInMachine: a network lists a switch no Machine of the cluster has.
	ReasonSwitchNotInMachine Reason = "SwitchNotInMachine"
	// ReasonSwitchNeedsMachine: a network lists a switch as shelf/switch for a cluster of
	// several Machines.
	ReasonSwitchNeedsMachine Reason = "SwitchNeedsMachine"
	// ReasonNoProvisioningSwitches: the provisioning network lists no switches, so no node is
	// on it yet (ModelComplete).
	ReasonNoProvisioningSwitches Reason = "NoProvisioningSwitches"
	// ReasonNoNICOnNetwork: no NIC of a node's board is cabled to the provisioning network.
	ReasonNoNICOnNetwork Reason = "NoNICOnNetwork"
	// ReasonInterfaceNotCabled: a network names an interface, and the node's NIC of that name
	// is not the one cabled to its switches.
	ReasonInterfaceNotCabled Reason = "InterfaceNotCabled"
)

// Addresses.
const (
	// ReasonInvalidAddress: an address or router address is not an IPv4 address.
	ReasonInvalidAddress Reason = "InvalidAddress"
	// ReasonUnknownNetwork: an explicit address names a network spec.networks does not have.
	ReasonUnknownNetwork Reason = "UnknownNetwork"
	// ReasonUnknownNode: an explicit address is for a node no group of the cluster has.
	ReasonUnknownNode Reason = "UnknownNode"
	// ReasonNodeNotOnNetwork: an explicit address is on a network the node has no NIC on.
	ReasonNodeNotOnNetwork Reason = "NodeNotOnNetwork"
	// ReasonAddressOutsideNetwork: an explicit address is outside its network.
	ReasonAddressOutsideNetwork Reason = "AddressOutsideNetwork"
	// ReasonAddressReserved: an explicit address is its network's network or broadcast address.
	ReasonAddressReserved Reason = "AddressReserved"
	// ReasonAddressConflict: an address, explicit or derived, is already another node's or a
	// router's.
	ReasonAddressConflict Reason = "AddressConflict"
	// ReasonStaticAddressMissing: a node on a Static network has no explicit address there
	// (ModelComplete).
	ReasonStaticAddressMissing Reason = "StaticAddressMissing"
	// ReasonNodeIDExceedsBits: a node id does not fit the network's nodeIdBits.
	ReasonNodeIDExceedsBits Reason = "NodeIDExceedsBits"
	// ReasonDomainOutsideNetwork: the cluster's domain puts the derived addresses outside a
	// network.
	ReasonDomainOutsideNetwork Reason = "DomainOutsideNetwork"
	// ReasonDerivedAddressOutsideNetwork: a node's derived address is outside its network.
	ReasonDerivedAddressOutsideNetwork Reason = "DerivedAddressOutsideNetwork"
	// ReasonDerivedAddressReserved: a node's derived address is its network's network or
	// broadcast address.
	ReasonDerivedAddressReserved Reason = "DerivedAddressReserved"
	// ReasonAddressNotDerivable: the derivation's inputs are out of range (a negative id or
	// domain), which admission normally refuses.
	ReasonAddressNotDerivable Reason = "AddressNotDerivable"
)

// Across the clusters of one site (the Clusters of a namespace that name the same
// spec.installServer.site share one install server). Each is a problem on every Cluster
// involved.
const (
	// ReasonSiteMACConflict: a node's MAC is also a node's of another cluster of the site.
	ReasonSiteMACConflict Reason = "SiteMACConflict"
	// ReasonSiteAddressConflict: a node's provisioning address is also a node's of another
	// cluster of the site.
	ReasonSiteAddressConflict Reason = "SiteAddressConflict"
	// ReasonSiteNodeNameConflict: a node name (its DHCP host name) is also a node's of
	// another cluster of the site.
	ReasonSiteNodeNameConflict Reason = "SiteNodeNameConflict"
	// ReasonSiteInstallServerConflict: two clusters of the site ask their shared install
	// server for different settings.
	ReasonSiteInstallServerConflict Reason = "SiteInstallServerConflict"
)
