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

const (
	// InstallServerLocal: the install server is a process someone runs (flarecast
	// installserver), beside the manager or on the provisioning host.
	InstallServerLocal InstallServerMode = "Local"
	// InstallServerPod: the manager runs the site's install server as a Deployment on the
	// node labelled flarecast.io/site=<site>, on that node's network.
	InstallServerPod InstallServerMode = "Pod"
)

// ClusterSpec is the seed's cluster model: a domain, the machines and network it runs on, and the
// foundation services its groups share. The NodesGroups name their Cluster.
type ClusterSpec struct {
	// domain is the cluster's domain number; derived addresses embed it. 0 is a domain.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Domain int32 `json:"domain"`
	// machineRefs name the Machines the cluster runs on (one per rack, or per group of
	// shelves); empty, the model is partial. A node's drawer names its Machine
	// (rack3/shelf0/d2), or only shelf/drawer when the cluster has one Machine.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	// +optional
	MachineRefs []LocalObjectReference `json:"machineRefs,omitempty"`
	// networkRef names the Network of the cluster; absent, the model is partial.
	// +optional
	NetworkRef *LocalObjectReference `json:"networkRef,omitempty"`
	// masterEligiblePolicy says what fewer than two master-eligible nodes are: a cluster needs
	// a master and a vice-master; Require makes fewer a problem, Warn only says so.
	// +kubebuilder:default=Require
	// +optional
	MasterEligiblePolicy MasterEligiblePolicy `json:"masterEligiblePolicy,omitempty"`
	// foundationServices are the cluster services whose configuration files are rendered
	// from the model into every deployable archive of the groups that run them.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	FoundationServices []FoundationService `json:"foundationServices,omitempty"`
	// installServer says how the install server that boots the cluster's nodes runs.
	// +optional
	InstallServer InstallServerSpec `json:"installServer,omitempty"`
}

// FoundationService is a cluster service with configuration templates.
type FoundationService struct {
	// name of the service; groups list it in spec.services to run it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// templates are Go text/templates rendered with the resolved model as data.
	// +listType=map
	// +listMapKey=path
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Templates []ConfigFile `json:"templates,omitempty"`
}

// InstallServerSpec says how the site's install server runs.
// +kubebuilder:validation:XValidation:rule=`!has(self.mode) || self.mode != 'Pod' || (has(self.site) && has(self.interface))`,message=`mode: Pod runs the install server of a site on the interface of the node attached to its provisioning network: set site and interface`
// +kubebuilder:validation:XValidation:rule=`!has(self.repositoryPullSecretRef) || (has(self.mode) && self.mode == 'Pod')`,message=`repositoryPullSecretRef: only a Pod-mode install server is given registry credentials by the manager (a Local one reads its host's docker config): set mode: Pod, or remove repositoryPullSecretRef`
type InstallServerSpec struct {
	// site names the install server that serves the cluster: the Clusters of a namespace
	// with the same site share one install server (one DHCP and boot service), so their
	// MACs, provisioning addresses and node names must not collide, and their settings
	// here must agree. Absent, the cluster has an install server of its own.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Site string `json:"site,omitempty"`
	// mode is where the install server runs: Local (beside the manager) or Pod.
	// +kubebuilder:default=Local
	// +optional
	Mode InstallServerMode `json:"mode,omitempty"`
	// interface is the host interface on the provisioning network.
	// +kubebuilder:validation:MaxLength=15
	// +optional
	Interface string `json:"interface,omitempty"`
	// repositoryPullSecretRef names a Secret of the Cluster's namespace, of type
	// kubernetes.io/dockerconfigjson (what `kubectl create secret docker-registry` makes), with
	// the credentials of the registry the manager's repository is on (--repo oci://...), for
	// a Pod-mode install server: the pod reads the deployables' blobs with them. Absent, the
	// pod reads the registry anonymously. The manager's own credentials are never handed on.
	// +optional
	RepositoryPullSecretRef *LocalObjectReference `json:"repositoryPullSecretRef,omitempty"`
}

// NodeCounts counts a cluster's nodes.
type NodeCounts struct {
	// total counts the nodes of every group of the cluster.
	// +required
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total"`
	// placed nodes run on a drawer of the Machine.
	// +required
	// +kubebuilder:validation:Minimum=0
	Placed int32 `json:"placed"`
	// addressed nodes have an address on every network they are on.
	// +required
	// +kubebuilder:validation:Minimum=0
	Addressed int32 `json:"addressed"`
	// masterEligible counts the nodes of MasterEligible Diskfull groups.
	// +required
	// +kubebuilder:validation:Minimum=0
	MasterEligible int32 `json:"masterEligible"`
}

// SoftwareLoad is the set of deployable archives of a cluster and its descriptor.
type SoftwareLoad struct {
	// descriptorDigest is the sha256 digest of the software-load descriptor.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	DescriptorDigest string `json:"descriptorDigest,omitempty"`
	// archives are the groups' deployable archives, one per group.
	// +listType=map
	// +listMapKey=nodesGroup
	// +kubebuilder:validation:MaxItems=1024
	// +optional
	Archives []SoftwareLoadArchive `json:"archives,omitempty"`
}

// SoftwareLoadArchive is a group's deployable archive.
type SoftwareLoadArchive struct {
	// nodesGroup is the group's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodesGroup string `json:"nodesGroup,omitempty"`
	// flashArchive is the name of the group's deployable FlashArchive.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	FlashArchive string `json:"flashArchive,omitempty"`
	// digest is the manifest digest of that archive, once it is built.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	Digest string `json:"digest,omitempty"`
}

// ClusterStatus is what the controller found of the cluster's model.
type ClusterStatus struct {
	// conditions are Valid, ModelComplete, ArchivesReady and Deployed.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// nodesGroups lists the groups that name this cluster.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	NodesGroups []string `json:"nodesGroups,omitempty"`
	// machines are the names of the Machines the model was resolved with.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	Machines []string `json:"machines,omitempty"`
	// network is the name of the Network the model was resolved with.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Network string `json:"network,omitempty"`
	// nodes counts the cluster's nodes: placed, addressed, master-eligible.
	// +optional
	Nodes NodeCounts `json:"nodes,omitempty"`
	// nodesByPhase counts the nodes of every group by their phase.
	// +optional
	NodesByPhase map[string]int32 `json:"nodesByPhase,omitempty"`
	// softwareLoad is the set of the groups' deployable archives.
	// +optional
	SoftwareLoad *SoftwareLoad `json:"softwareLoad,omitempty"`
	// installServer is the install server that serves the cluster.
	// +optional
	InstallServer *InstallServerStatus `json:"installServer,omitempty"`
	// rollout says which nodes reinstall now because their group's deployable archive
	// changed, and which wait and why. The install server tells the resident agent of each
	// node in reinstall to boot from the network.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// InstallServerStatus names the install server of a cluster.
type InstallServerStatus struct {
	// mode is where it runs: Local or Pod.
	// +optional
	Mode InstallServerMode `json:"mode,omitempty"`
	// site is the site it serves.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Site string `json:"site,omitempty"`
	// deployment is its Deployment, in Pod mode.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Deployment string `json:"deployment,omitempty"`
}

// RolloutStatus is the current step of a cluster's rollout.
type RolloutStatus struct {
	// reinstall lists the nodes told to reinstall now, as group/node: within each group's
	// rollout.maxUnavailable, never two master-eligible nodes at once, never the last one up.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	Reinstall []string `json:"reinstall,omitempty"`
	// held lists the nodes whose group's deployable changed that wait, with why.
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=1024
	// +optional
	Held []HeldNode `json:"held,omitempty"`
}

// HeldNode is a node that waits for its reinstall.
type HeldNode struct {
	// node is group/node.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`
	// reason is MaxUnavailable, MasterEligibleDown or LastMasterEligible.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`
	// message says what it waits for.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// Cluster is a cluster of nodes: the root of the cluster model.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fccl,categories=flarecast
// +kubebuilder:printcolumn:name="Domain",type=integer,JSONPath=`.spec.domain`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes.total`
// +kubebuilder:printcolumn:name="Complete",type=string,JSONPath=`.status.conditions[?(@.type=="ModelComplete")].status`
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Deployed",type=string,JSONPath=`.status.conditions[?(@.type=="Deployed")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].reason`,priority=1
// +kubebuilder:printcolumn:name="Install-Server",type=string,JSONPath=`.status.conditions[?(@.type=="InstallServerReady")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Cluster struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the cluster's model.
	// +optional
	Spec ClusterSpec `json:"spec,omitempty"`
	// status is what the controller found of it.
	// +optional
	Status ClusterStatus `json:"status,omitempty"`
}

// ClusterList is a list of Clusters.
// +kubebuilder:object:root=true
type ClusterList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the Clusters.
	Items []Cluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Cluster{}, &ClusterList{})
}
