package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Role says whether a group's nodes may be elected master.
// +kubebuilder:validation:Enum=MasterEligible;NonMasterEligible
type Role string

const (
	// RoleMasterEligible nodes may be elected master or vice-master; they must be Diskfull.
	RoleMasterEligible Role = "MasterEligible"
	// RoleNonMasterEligible nodes are never elected.
	RoleNonMasterEligible Role = "NonMasterEligible"
)

// NodeType says where a node's operating system lives.
// +kubebuilder:validation:Enum=Diskfull;Dataless;Diskless
type NodeType string

const (
	// NodeTypeDiskfull nodes boot from their own disk and keep their data there.
	NodeTypeDiskfull NodeType = "Diskfull"
	// NodeTypeDataless nodes boot from their own disk but share the master's data.
	NodeTypeDataless NodeType = "Dataless"
	// NodeTypeDiskless nodes have no disk: their root comes over the network.
	NodeTypeDiskless NodeType = "Diskless"
)

// NodesGroupSpec is a set of nodes that share role, node type, OS, architecture, software,
// services and configuration (the seed's nodes group).
// +kubebuilder:validation:XValidation:rule=`!has(self.diskless) || self.nodeType == 'Diskless'`,message=`diskless: only a Diskless group chooses a network root and where its writes go: remove diskless, or set nodeType: Diskless`
// +kubebuilder:validation:XValidation:rule=`!has(self.sharedData) || self.sharedData.size() == 0 || self.nodeType != 'Diskfull'`,message=`sharedData: a Diskfull group keeps its data on its own disks, and a group that mounts data shared over the network is Dataless: set nodeType: Dataless, or remove sharedData`
// +kubebuilder:validation:XValidation:rule=`!has(self.sharedData) || !has(self.requiredFilesystems) || self.sharedData.all(d, !self.requiredFilesystems.exists(f, f.mountPoint == d.mountPoint))`,message=`sharedData[].mountPoint: a shared data mount point is also a required local file system of the group: mount the shared data elsewhere, or drop the required file system`,messageExpression=`self.sharedData.filter(d, self.requiredFilesystems.exists(f, f.mountPoint == d.mountPoint)).map(d, 'sharedData[%s].mountPoint: %s is also a required local file system of the group (requiredFilesystems): mount the shared data elsewhere, or drop the required file system'.format([d.name, d.mountPoint]))[0]`
// +kubebuilder:validation:XValidation:rule=`!(self.nodeType == 'Diskless' && self.role == 'MasterEligible')`,message=`role: a Diskless group cannot be MasterEligible, since diskless nodes are never master-eligible: set role: NonMasterEligible, or nodeType: Diskfull if its nodes have a disk`
// +kubebuilder:validation:XValidation:rule=`!(self.nodeType == 'Dataless' && self.role == 'MasterEligible')`,message=`role: a Dataless group cannot be MasterEligible, since a dataless node is a non-master-eligible diskfull node: set role: NonMasterEligible, or nodeType: Diskfull`
// +kubebuilder:validation:XValidation:rule=`!has(self.nodes) || self.nodes.all(n, self.nodes.exists_one(m, m.id == n.id))`,message=`nodes[].id: two nodes of the group share an id: give each node of the cluster its own id`,messageExpression=`self.nodes.map(x, self.nodes.filter(y, y.id == x.id)).filter(l, l.size() > 1).map(l, 'nodes[%s].id: node id %d is already the id of node %s of this group: give each node of the cluster its own id'.format([l[1].name, l[1].id, l[0].name]))[0]`
// +kubebuilder:validation:XValidation:rule=`!has(self.nodes) || self.nodes.all(n, !has(n.drawer) || self.nodes.exists_one(m, has(m.drawer) && m.drawer == n.drawer))`,message=`nodes[].drawer: two nodes of the group run on the same drawer: put each node on its own drawer`,messageExpression=`self.nodes.filter(x, has(x.drawer)).map(x, self.nodes.filter(y, has(y.drawer) && y.drawer == x.drawer)).filter(l, l.size() > 1).map(l, 'nodes[%s].drawer: drawer %s already runs node %s of this group: put each node on its own drawer'.format([l[1].name, l[1].drawer, l[0].name]))[0]`
type NodesGroupSpec struct {
	// clusterRef names the Cluster the group belongs to.
	// +required
	ClusterRef LocalObjectReference `json:"clusterRef,omitzero"`
	// role says whether the group's nodes may be elected master.
	// +required
	Role Role `json:"role,omitempty"`
	// nodeType says where the nodes' operating system lives: Diskfull, Dataless or Diskless.
	// +required
	NodeType NodeType `json:"nodeType,omitempty"`
	// os is the operating system of the group's archive.
	// +required
	OS OSSpec `json:"os,omitzero"`
	// arch is the CPU architecture of the group's nodes and archive.
	// +required
	Arch Arch `json:"arch,omitempty"`
	// software is what the group's generic archive must contain.
	// +optional
	Software Software `json:"software,omitempty"`
	// services names the Cluster's foundation services this group runs.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Services []string `json:"services,omitempty"`
	// configuration is user data and install scripts added to the group's deployable archive.
	// +optional
	Configuration *Configuration `json:"configuration,omitempty"`
	// requiredFilesystems must exist, at least as large, on the drawer of every node of a
	// Diskfull or Dataless group.
	// +listType=map
	// +listMapKey=mountPoint
	// +kubebuilder:validation:MaxItems=16
	// +optional
	RequiredFilesystems []RequiredFilesystem `json:"requiredFilesystems,omitempty"`
	// nodes are the group's nodes, each with its id and drawer.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Nodes []Node `json:"nodes,omitempty"`
	// archiveRef names the generic or configured FlashArchive this group should run; the
	// controller derives the deployable one from it once the model is complete.
	// +optional
	ArchiveRef *LocalObjectReference `json:"archiveRef,omitempty"`
	// rollout says how many nodes may reinstall at once.
	// +optional
	Rollout RolloutPolicy `json:"rollout,omitempty"`
	// diskless says where a Diskless group's root lives and where its nodes' writes go;
	// absent, an NFS root with writes in tmpfs. Only a Diskless group has it.
	// +optional
	Diskless *DisklessSpec `json:"diskless,omitempty"`
	// sharedData are NFS file systems every node of a Dataless or Diskless group mounts: an
	// export of the site's install server (from its state directory) or of another server.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule=`self.all(d, self.exists_one(e, e.mountPoint == d.mountPoint))`,message=`sharedData[].mountPoint: two shared data entries mount at one place: give each its own mount point`,messageExpression=`self.map(x, self.filter(y, y.mountPoint == x.mountPoint)).filter(l, l.size() > 1).map(l, 'sharedData[%s].mountPoint: %s is already the mount point of sharedData[%s]: give each its own mount point'.format([l[1].name, l[1].mountPoint, l[0].name]))[0]`
	// +optional
	SharedData []SharedData `json:"sharedData,omitempty"`
}

// DisklessRoot is where a Diskless node's root file system lives.
// +kubebuilder:validation:Enum=NFS;RAM
type DisklessRoot string

const (
	// DisklessRootNFS mounts the install server's read-only export of the group's deployable.
	DisklessRootNFS DisklessRoot = "NFS"
	// DisklessRootRAM unpacks the deployable into memory at each boot: no NFS at run time.
	DisklessRootRAM DisklessRoot = "RAM"
)

// DisklessWrites is where a Diskless node's writes go.
// +kubebuilder:validation:Enum=Tmpfs;Persistent
type DisklessWrites string

const (
	// DisklessWritesTmpfs keeps a node's writes in memory: each boot starts from the deployable.
	DisklessWritesTmpfs DisklessWrites = "Tmpfs"
	// DisklessWritesPersistent keeps them in the node's own read-write export on the install
	// server, across reboots of the node and restarts of the server.
	DisklessWritesPersistent DisklessWrites = "Persistent"
)

// DisklessSpec is a Diskless group's choice of root and writes.
// +kubebuilder:validation:XValidation:rule=`!(self.root == 'RAM' && self.writes == 'Persistent')`,message=`writes: a RAM root lives in the node's memory and has no export to keep writes in: set writes: Tmpfs, or root: NFS for writes that persist`
type DisklessSpec struct {
	// root is NFS (the install server's read-only export, the default) or RAM (the
	// deployable unpacked into memory at boot).
	// +kubebuilder:default=NFS
	// +optional
	Root DisklessRoot `json:"root,omitempty"`
	// writes is Tmpfs (lost at reboot, the default) or Persistent (kept in the node's own
	// export on the install server; an NFS root only).
	// +kubebuilder:default=Tmpfs
	// +optional
	Writes DisklessWrites `json:"writes,omitempty"`
}

// SharedData is one NFS file system a group's nodes mount.
// +kubebuilder:validation:XValidation:rule=`self.mountPoint != '/'`,message=`mountPoint: shared data cannot be mounted at /, which holds the node's own system: choose a directory such as /data`
// +kubebuilder:validation:XValidation:rule=`!self.mountPoint.matches('(^|/)[.][.]?(/|$)')`,message=`mountPoint: a mount point is a clean absolute path, without . or .. components`
type SharedData struct {
	// name of the entry; it names the install server's export (data/<name>).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`
	// mountPoint is where the nodes mount it, an absolute path other than /.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^(/[-_.a-zA-Z0-9]+)+$`
	MountPoint string `json:"mountPoint,omitempty"`
	// access is ReadWrite (the default) or ReadOnly: how the nodes mount it, and, for the
	// install server's own export, how it is served.
	// +kubebuilder:default=ReadWrite
	// +optional
	Access DataAccess `json:"access,omitempty"`
	// nfs is another server's export; absent, the site's install server serves the data
	// from its state directory.
	// +optional
	NFS *NFSSource `json:"nfs,omitempty"`
}

// DataAccess is how a group's nodes may use its shared data.
// +kubebuilder:validation:Enum=ReadWrite;ReadOnly
type DataAccess string

const (
	// DataReadWrite mounts the shared data read-write.
	DataReadWrite DataAccess = "ReadWrite"
	// DataReadOnly mounts it read-only (and the install server serves it so).
	DataReadOnly DataAccess = "ReadOnly"
)

// NFSSource is an NFSv3 export of a server outside flarecast.
type NFSSource struct {
	// server is the NFS server's IPv4 address or DNS name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([-.a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Server string `json:"server,omitempty"`
	// path is the export's path on the server.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[-_./a-zA-Z0-9]*$`
	Path string `json:"path,omitempty"`
}

// OSSpec names an operating system.
type OSSpec struct {
	// name of the operating system (debian).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// version of it (13).
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Version string `json:"version,omitempty"`
}

// Software is the packages and corrections (patches) a group's image holds.
type Software struct {
	// packages are the installation units the image holds.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	// +optional
	Packages []Package `json:"packages,omitempty"`
	// corrections are patches applied after the packages, in order.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=512
	// +optional
	Corrections []string `json:"corrections,omitempty"`
}

// Package is an installation unit.
type Package struct {
	// name of the package.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][-+._a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`
	// version of it; absent, the source's current one.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Version string `json:"version,omitempty"`
}

// RequiredFilesystem is a mount point a group's nodes need on local disk.
type RequiredFilesystem struct {
	// mountPoint is where the file system must be mounted.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^/[-_./a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=256
	MountPoint string `json:"mountPoint,omitempty"`
	// minSize is the least size it must have, as a quantity; absent, any size.
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	MinSize string `json:"minSize,omitempty"`
}

// Node is one node of a group.
type Node struct {
	// name of the node, unique in the cluster; it becomes the node's host name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// id is the node id, unique in the cluster; derived addresses end with it.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65534
	ID int32 `json:"id,omitempty"`
	// drawer is machine/shelf/drawer of the cluster's Machine the node runs on, or
	// shelf/drawer when the cluster has one Machine; absent, the node is not placed yet. At
	// most 253 characters, the length of an object name, which keeps the group's CEL rule on
	// drawers within the API server's cost budget.
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Drawer string `json:"drawer,omitempty"`
}

// RolloutPolicy says how many nodes of the group may reinstall at once.
type RolloutPolicy struct {
	// maxUnavailable is how many nodes of the group may reinstall at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	MaxUnavailable int32 `json:"maxUnavailable,omitempty"`
}

// NodePhase is where a node is in its install.
// +kubebuilder:validation:Enum=Pending;Booting;Installing;Configuring;Rebooting;Running;Failed
type NodePhase string

// The phases of a node's install, in order; Failed can follow any of them.
const (
	NodePending     NodePhase = "Pending"
	NodeBooting     NodePhase = "Booting"
	NodeInstalling  NodePhase = "Installing"
	NodeConfiguring NodePhase = "Configuring"
	NodeRebooting   NodePhase = "Rebooting"
	NodeRunning     NodePhase = "Running"
	NodeFailed      NodePhase = "Failed"
)

// NodeStatus is one node's state; the install server writes its own entries with
// server-side apply, keyed by name.
type NodeStatus struct {
	// name of the node.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// phase is where the node is in its install.
	// +optional
	Phase NodePhase `json:"phase,omitempty"`
	// address is the node's address on the provisioning network.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Address string `json:"address,omitempty"`
	// installedDigest is the manifest digest of the archive the node runs.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	InstalledDigest string `json:"installedDigest,omitempty"`
	// problems are the model's problems with this node, one sentence each.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=2048
	// +optional
	Problems []string `json:"problems,omitempty"`
	// step is what the node's agent last reported doing (plan, disks, section archive,
	// script 10-net.sh).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Step string `json:"step,omitempty"`
	// percent is how far the node's install has got, 0 to 100, as its agent last reported.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Percent int32 `json:"percent,omitempty"`
	// message says what the install server last did or met on the node.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Message string `json:"message,omitempty"`
	// lastTransitionTime is when the phase last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// NodesGroupStatus is what the controller found of the group.
type NodesGroupStatus struct {
	// conditions are Valid (the problems filed on the group) and the archive's.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// nodes is each node's state, keyed by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Nodes []NodeStatus `json:"nodes,omitempty"`
	// total is the number of nodes of the group.
	// +optional
	Total int32 `json:"total,omitempty"`
	// running is the number of nodes that run the group's deployable archive.
	// +optional
	Running int32 `json:"running,omitempty"`
}

// NodesGroup is a set of nodes that share role, type, OS, software and configuration.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fcng,categories=flarecast
// +kubebuilder:printcolumn:name="Cluster",type=string,JSONPath=`.spec.clusterRef.name`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.nodeType`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.running`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodesGroup struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the group's nodes share, and the nodes.
	// +optional
	Spec NodesGroupSpec `json:"spec,omitempty"`
	// status is what the controller found of the group.
	// +optional
	Status NodesGroupStatus `json:"status,omitempty"`
}

// NodesGroupList is a list of NodesGroups.
// +kubebuilder:object:root=true
type NodesGroupList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the NodesGroups.
	Items []NodesGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NodesGroup{}, &NodesGroupList{})
}
