package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MasterEligiblePolicy says what a cluster with fewer than two master-eligible nodes gets.
// +kubebuilder:validation:Enum=Require;Warn
type MasterEligiblePolicy string

const (
	// MasterEligibleRequire makes it a problem: Valid=False.
	MasterEligibleRequire MasterEligiblePolicy = "Require"
	// MasterEligibleWarn records it in the Valid condition's message but keeps Valid=True.
	MasterEligibleWarn MasterEligiblePolicy = "Warn"
)

// InstallServerMode is how a cluster's install server runs.
// +kubebuilder:validation:Enum=Local;Pod
type InstallServerMode string

// ClusterSpec is the seed's cluster model: a domain, the machines and network it runs on, and the
// foundation services its groups share. The NodesGroups name their Cluster.
type ClusterSpec struct {
	// Domain is the cluster's domain number; derived addresses embed it.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Domain int32 `json:"domain"`
	// MachineRefs name the Machines the cluster runs on (one per rack, or per group of
	// shelves); empty, the model is partial. A node's drawer names its Machine
	// (rack3/shelf0/d2), or only shelf/drawer when the cluster has one Machine.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	MachineRefs []LocalObjectReference `json:"machineRefs,omitempty"`
	// NetworkRef names the Network of the cluster; absent, the model is partial.
	// +optional
	NetworkRef *LocalObjectReference `json:"networkRef,omitempty"`
	// MasterEligiblePolicy: a cluster needs a master and a vice-master, so two
	// master-eligible nodes; Require makes fewer a problem, Warn only says so.
	// +kubebuilder:default=Require
	// +optional
	MasterEligiblePolicy MasterEligiblePolicy `json:"masterEligiblePolicy,omitempty"`
	// FoundationServices are the cluster services whose configuration files are rendered
	// from the model into every deployable archive of the groups that run them.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	FoundationServices []FoundationService `json:"foundationServices,omitempty"`
	// +optional
	InstallServer InstallServerSpec `json:"installServer,omitempty"`
}

// FoundationService is a cluster service with configuration templates.
type FoundationService struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Templates are Go text/templates rendered with the resolved model as data.
	// +listType=map
	// +listMapKey=path
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Templates []ConfigFile `json:"templates,omitempty"`
}

// InstallServerSpec says how the site's install server runs.
type InstallServerSpec struct {
	// Site names the install server that serves the cluster: the Clusters of a namespace
	// with the same site share one install server (one DHCP and boot service), so their
	// MACs, provisioning addresses and node names must not collide, and their settings
	// here must agree. Absent, the cluster has an install server of its own.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Site string `json:"site,omitempty"`
	// +kubebuilder:default=Local
	// +optional
	Mode InstallServerMode `json:"mode,omitempty"`
	// Interface is the host interface on the provisioning network.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Interface string `json:"interface,omitempty"`
}

// NodeCounts counts a cluster's nodes.
type NodeCounts struct {
	Total int32 `json:"total"`
	// Placed nodes run on a drawer of the Machine.
	Placed int32 `json:"placed"`
	// Addressed nodes have an address on every network they are on.
	Addressed      int32 `json:"addressed"`
	MasterEligible int32 `json:"masterEligible"`
}

// SoftwareLoad is the set of deployable archives of a cluster and its descriptor.
type SoftwareLoad struct {
	// DescriptorDigest is the sha256 digest of the software-load descriptor.
	// +optional
	DescriptorDigest string `json:"descriptorDigest,omitempty"`
	// +listType=map
	// +listMapKey=nodesGroup
	// +optional
	Archives []SoftwareLoadArchive `json:"archives,omitempty"`
}

// SoftwareLoadArchive is a group's deployable archive.
type SoftwareLoadArchive struct {
	NodesGroup   string `json:"nodesGroup"`
	FlashArchive string `json:"flashArchive"`
	// +optional
	Digest string `json:"digest,omitempty"`
}

// ClusterStatus is what the controller found of the cluster's model.
type ClusterStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// NodesGroups lists the groups that name this cluster.
	// +optional
	NodesGroups []string `json:"nodesGroups,omitempty"`
	// Machines are the Machines the model was resolved with.
	// +optional
	Machines []string `json:"machines,omitempty"`
	// +optional
	Network string `json:"network,omitempty"`
	// +optional
	Nodes NodeCounts `json:"nodes,omitempty"`
	// NodesByPhase counts the nodes of every group by their phase.
	// +optional
	NodesByPhase map[string]int32 `json:"nodesByPhase,omitempty"`
	// +optional
	SoftwareLoad *SoftwareLoad `json:"softwareLoad,omitempty"`
}

// Cluster is a cluster of nodes: the root of the cluster model.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fccl,categories=flarecast
// +kubebuilder:printcolumn:name="Domain",type=integer,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes.total`
// +kubebuilder:printcolumn:name="Complete",type=string,JSONPath=`.status.conditions[?(@.type=="ModelComplete")].status`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Cluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterSpec   `json:"spec,omitempty"`
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterList is a list of Clusters.
// +kubebuilder:object:root=true
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Cluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Cluster{}, &ClusterList{})
}
