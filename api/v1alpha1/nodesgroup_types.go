package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Role says whether a group's nodes may be elected master.
// +kubebuilder:validation:Enum=MasterEligible;NonMasterEligible
type Role string

const (
	RoleMasterEligible    Role = "MasterEligible"
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
// +kubebuilder:validation:XValidation:rule="!(self.nodeType == 'Diskless' && self.role == 'MasterEligible')",message="role: a Diskless group cannot be MasterEligible (diskless nodes are never master-eligible)"
// +kubebuilder:validation:XValidation:rule="!(self.nodeType == 'Dataless' && self.role == 'MasterEligible')",message="role: a Dataless group cannot be MasterEligible (a dataless node is a non-master-eligible diskfull node)"
// +kubebuilder:validation:XValidation:rule="!has(self.nodes) || self.nodes.all(n, self.nodes.exists_one(m, m.id == n.id))",message="nodes[].id: node ids must be unique within the group"
// +kubebuilder:validation:XValidation:rule="!has(self.nodes) || self.nodes.all(n, !has(n.drawer) || self.nodes.exists_one(m, has(m.drawer) && m.drawer == n.drawer))",message="nodes[].drawer: two nodes of the group run on the same drawer"
type NodesGroupSpec struct {
	ClusterRef LocalObjectReference `json:"clusterRef"`
	Role       Role                 `json:"role"`
	NodeType   NodeType             `json:"nodeType"`
	OS         OSSpec               `json:"os"`
	Arch       Arch                 `json:"arch"`
	// Software is what the group's generic archive must contain.
	// +optional
	Software Software `json:"software,omitempty"`
	// Services names the Cluster's foundation services this group runs.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Services []string `json:"services,omitempty"`
	// +optional
	Configuration *Configuration `json:"configuration,omitempty"`
	// RequiredFilesystems must exist, at least as large, on the drawer of every node of a
	// Diskfull or Dataless group.
	// +listType=map
	// +listMapKey=mountPoint
	// +kubebuilder:validation:MaxItems=16
	// +optional
	RequiredFilesystems []RequiredFilesystem `json:"requiredFilesystems,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Nodes []Node `json:"nodes,omitempty"`
	// ArchiveRef names the generic or configured FlashArchive this group should run; the
	// controller derives the deployable one from it once the model is complete.
	// +optional
	ArchiveRef *LocalObjectReference `json:"archiveRef,omitempty"`
	// +optional
	Rollout RolloutPolicy `json:"rollout,omitempty"`
}

// OSSpec names an operating system.
type OSSpec struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Version string `json:"version,omitempty"`
}

// Software is the packages and corrections (patches) a group's image holds.
type Software struct {
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	// +optional
	Packages []Package `json:"packages,omitempty"`
	// Corrections are patches applied after the packages, in order.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Corrections []string `json:"corrections,omitempty"`
}

// Package is an installation unit.
type Package struct {
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][-+._a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Version string `json:"version,omitempty"`
}

// RequiredFilesystem is a mount point a group's nodes need on local disk.
type RequiredFilesystem struct {
	// +kubebuilder:validation:Pattern=`^/[-_./a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=256
	MountPoint string `json:"mountPoint"`
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	MinSize string `json:"minSize,omitempty"`
}

// Node is one node of a group.
type Node struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// ID is the node id, unique in the cluster; derived addresses end with it.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65534
	ID int32 `json:"id"`
	// Drawer is machine/shelf/drawer of the cluster's Machine the node runs on, or
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
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=1
	// +optional
	MaxUnavailable int32 `json:"maxUnavailable,omitempty"`
}

// NodePhase is where a node is in its install.
// +kubebuilder:validation:Enum=Pending;Booting;Installing;Configuring;Rebooting;Running;Failed
type NodePhase string

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
	Name string `json:"name"`
	// +optional
	Phase NodePhase `json:"phase,omitempty"`
	// +optional
	Address string `json:"address,omitempty"`
	// +optional
	InstalledDigest string `json:"installedDigest,omitempty"`
	// Problems are the model's problems with this node, one sentence each.
	// +optional
	Problems []string `json:"problems,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// NodesGroupStatus is what the controller found of the group.
type NodesGroupStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Nodes []NodeStatus `json:"nodes,omitempty"`
	// +optional
	Total int32 `json:"total,omitempty"`
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
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodesGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodesGroupSpec   `json:"spec,omitempty"`
	Status NodesGroupStatus `json:"status,omitempty"`
}

// NodesGroupList is a list of NodesGroups.
// +kubebuilder:object:root=true
type NodesGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodesGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&NodesGroup{}, &NodesGroupList{})
}
