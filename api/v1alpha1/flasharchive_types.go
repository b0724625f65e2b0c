package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ArchiveType is the seed's three kinds of flash archive.
// +kubebuilder:validation:Enum=Generic;Configured;Deployable
type ArchiveType string

const (
	// ArchiveGeneric is cluster-independent and never deployable.
	ArchiveGeneric ArchiveType = "Generic"
	// ArchiveConfigured is a generic (or configured) archive plus user configuration.
	ArchiveConfigured ArchiveType = "Configured"
	// ArchiveDeployable is adapted to one cluster and one nodes group.
	ArchiveDeployable ArchiveType = "Deployable"
)

// ArchivePhase is for display; the conditions are the truth.
// +kubebuilder:validation:Enum=Pending;Building;AwaitingCustomization;Ready;Failed
type ArchivePhase string

const (
	ArchivePending               ArchivePhase = "Pending"
	ArchiveBuilding              ArchivePhase = "Building"
	ArchiveAwaitingCustomization ArchivePhase = "AwaitingCustomization"
	ArchiveReady                 ArchivePhase = "Ready"
	ArchiveFailed                ArchivePhase = "Failed"
)

// FlashArchiveSpec says what an archive is made from.
// +kubebuilder:validation:XValidation:rule="self.type != 'Generic' || (has(self.source) && !has(self.baseRef) && !has(self.clusterRef) && !has(self.nodesGroupRef))",message="source: a Generic archive is built from a source and has no baseRef, clusterRef or nodesGroupRef"
// +kubebuilder:validation:XValidation:rule="self.type != 'Configured' || (has(self.baseRef) && !has(self.source) && !has(self.clusterRef) && !has(self.nodesGroupRef))",message="baseRef: a Configured archive is derived from a baseRef and has no source, clusterRef or nodesGroupRef"
// +kubebuilder:validation:XValidation:rule="self.type != 'Deployable' || (has(self.baseRef) && has(self.clusterRef) && has(self.nodesGroupRef) && !has(self.source))",message="baseRef: a Deployable archive needs baseRef, clusterRef and nodesGroupRef, and no source"
// +kubebuilder:validation:XValidation:rule="self.type == 'Configured' || !has(self.configuration)",message="configuration: only a Configured archive carries user configuration"
// +kubebuilder:validation:XValidation:rule="self.type == oldSelf.type",message="type: is immutable"
type FlashArchiveSpec struct {
	Type ArchiveType `json:"type"`
	// Arch of the binary section; a Configured or Deployable archive inherits its base's.
	// +optional
	Arch Arch `json:"arch,omitempty"`
	// +optional
	OS *OSSpec `json:"os,omitempty"`
	// Source is what a Generic archive is built from.
	// +optional
	Source *ArchiveSource `json:"source,omitempty"`
	// BaseRef is the Generic or Configured archive a derived one starts from.
	// +optional
	BaseRef *LocalObjectReference `json:"baseRef,omitempty"`
	// +optional
	ClusterRef *LocalObjectReference `json:"clusterRef,omitempty"`
	// +optional
	NodesGroupRef *LocalObjectReference `json:"nodesGroupRef,omitempty"`
	// Configuration is the configuration section of a Configured archive; given again, it
	// replaces the base's section, it never stacks.
	// +optional
	Configuration *Configuration `json:"configuration,omitempty"`
	// Limits bound this archive's build in time and size; what it leaves unset, the
	// manager's flags decide.
	// +optional
	Limits *BuildLimits `json:"limits,omitempty"`
}

// BuildLimits bound a build: each download step, the whole build, and the size of a source.
// A bound that passes ends the build Failed, with a reason naming it.
type BuildLimits struct {
	// ConnectTimeout bounds connecting (TCP and TLS) to a source's server, as "30s".
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// FirstByteTimeout bounds the wait for the response headers once the request is sent.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	FirstByteTimeout string `json:"firstByteTimeout,omitempty"`
	// IdleTimeout bounds a pause in the body of a download.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// DownloadTimeout bounds a whole download.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	DownloadTimeout string `json:"downloadTimeout,omitempty"`
	// BuildTimeout bounds the whole build, download and packing included.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	BuildTimeout string `json:"buildTimeout,omitempty"`
	// MaxSize bounds the source as fetched and the uncompressed tar it holds, as "8Gi".
	// +kubebuilder:validation:Pattern=`^[0-9]+(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	MaxSize string `json:"maxSize,omitempty"`
}

// ArchiveSource is exactly one way to get a root file system.
// +kubebuilder:validation:XValidation:rule="[has(self.image), has(self.rootfs), has(self.build), has(self.capture)].filter(x, x).size() == 1",message="source: exactly one of image, rootfs, build, capture must be set"
type ArchiveSource struct {
	// Image is an OCI container image flattened to a root file system.
	// +optional
	Image *ImageSource `json:"image,omitempty"`
	// Rootfs is a tarball fetched from a URL and checked against its digest.
	// +optional
	Rootfs *RootfsSource `json:"rootfs,omitempty"`
	// Build runs a base image as the master system, installs the group's software, then
	// captures it.
	// +optional
	Build *BuildSource `json:"build,omitempty"`
	// Capture streams back the root file system of a real prototype node.
	// +optional
	Capture *CaptureSource `json:"capture,omitempty"`
}

// ImageSource names an OCI image.
type ImageSource struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Ref string `json:"ref"`
}

// RootfsSource is a tarball of a root file system.
type RootfsSource struct {
	// +kubebuilder:validation:Pattern=`^(https?|file)://.+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest"`
}

// BuildSource builds a generic archive in a build pod (the master system).
type BuildSource struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	BaseImage string `json:"baseImage"`
	// NodesGroupRef names the group whose software is installed.
	// +optional
	NodesGroupRef *LocalObjectReference `json:"nodesGroupRef,omitempty"`
	// PauseForCustomization stops before capture until the annotation
	// flarecast.io/customized is set.
	// +optional
	PauseForCustomization bool `json:"pauseForCustomization,omitempty"`
}

// CaptureSource names a prototype node to capture.
type CaptureSource struct {
	NodesGroupRef LocalObjectReference `json:"nodesGroupRef"`
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Node string `json:"node"`
}

// ArchiveSection is one section (OCI layer or config) of a stored archive.
type ArchiveSection struct {
	Name      string `json:"name"`
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// FlashArchiveStatus is what was built.
type FlashArchiveStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase ArchivePhase `json:"phase,omitempty"`
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Digest is the digest of the archive's OCI manifest.
	// +optional
	Digest string `json:"digest,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Sections []ArchiveSection `json:"sections,omitempty"`
	// Size is the total of the sections' sizes, in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// Location is where the archive is stored (repository and name).
	// +optional
	Location string `json:"location,omitempty"`
	// InputsDigest is a digest of everything the archive was made from: same inputs, same
	// archive.
	// +optional
	InputsDigest string `json:"inputsDigest,omitempty"`
	// BaseDigest is the manifest digest of the base archive.
	// +optional
	BaseDigest string `json:"baseDigest,omitempty"`
	// Progress is how far the running build has got; it goes when the build ends, and a
	// failed build's message says how far it got.
	// +optional
	Progress *BuildProgress `json:"progress,omitempty"`
}

// BuildProgress is how far a running build has got.
type BuildProgress struct {
	// Stage is start (before the build reports), download (an http(s) source), read (a
	// file:// source) or pack.
	Stage string `json:"stage"`
	// Bytes read in the stage so far.
	Bytes int64 `json:"bytes"`
	// Total is the size the source declared, when it did.
	// +optional
	Total int64 `json:"total,omitempty"`
}

// FlashArchive is a system image: generic, configured or deployable.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=fa,categories=flarecast
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Size",type=integer,JSONPath=`.status.size`
// +kubebuilder:printcolumn:name="Digest",type=string,JSONPath=`.status.digest`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type FlashArchive struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FlashArchiveSpec   `json:"spec,omitempty"`
	Status FlashArchiveStatus `json:"status,omitempty"`
}

// FlashArchiveList is a list of FlashArchives.
// +kubebuilder:object:root=true
type FlashArchiveList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FlashArchive `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FlashArchive{}, &FlashArchiveList{})
}
