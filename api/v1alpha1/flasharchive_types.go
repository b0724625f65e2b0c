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
// +kubebuilder:validation:Enum=Pending;Building;AwaitingCustomization;AwaitingCapture;Ready;Failed
type ArchivePhase string

// The phases of an archive; the Ready condition says the same with its reason.
const (
	ArchivePending               ArchivePhase = "Pending"
	ArchiveBuilding              ArchivePhase = "Building"
	ArchiveAwaitingCustomization ArchivePhase = "AwaitingCustomization"
	ArchiveAwaitingCapture       ArchivePhase = "AwaitingCapture"
	ArchiveReady                 ArchivePhase = "Ready"
	ArchiveFailed                ArchivePhase = "Failed"
)

// FlashArchiveSpec says what an archive is made from.
// +kubebuilder:validation:XValidation:rule=`self.type != 'Generic' || (has(self.source) && !has(self.baseRef) && !has(self.clusterRef) && !has(self.nodesGroupRef))`,message=`source: a Generic archive is built from a source and has no baseRef, clusterRef or nodesGroupRef`,messageExpression=`!has(self.source) ? 'source: a Generic archive is built from a source, and this one has none: set source, or make the archive Configured or Deployable' : '%s: a Generic archive is built from its source alone and has no %s: remove it, or make the archive Configured or Deployable'.format([(has(self.baseRef) ? 'baseRef' : (has(self.clusterRef) ? 'clusterRef' : (has(self.nodesGroupRef) ? 'nodesGroupRef' : ""))), (has(self.baseRef) ? 'baseRef' : (has(self.clusterRef) ? 'clusterRef' : (has(self.nodesGroupRef) ? 'nodesGroupRef' : "")))])`
// +kubebuilder:validation:XValidation:rule=`self.type != 'Configured' || (has(self.baseRef) && !has(self.source) && !has(self.clusterRef) && !has(self.nodesGroupRef))`,message=`baseRef: a Configured archive is derived from a baseRef and has no source, clusterRef or nodesGroupRef`,messageExpression=`!has(self.baseRef) ? 'baseRef: a Configured archive is derived from a base, and this one names none: set baseRef to a Generic or Configured archive' : has(self.source) ? 'source: a Configured archive is its base plus configuration, not built from a source: remove source, or make the archive Generic' : '%s: a Configured archive is its base plus configuration, adapted to no cluster or group: remove %s, or make the archive Deployable'.format([(has(self.clusterRef) ? 'clusterRef' : (has(self.nodesGroupRef) ? 'nodesGroupRef' : "")), (has(self.clusterRef) ? 'clusterRef' : (has(self.nodesGroupRef) ? 'nodesGroupRef' : ""))])`
// +kubebuilder:validation:XValidation:rule=`self.type != 'Deployable' || (has(self.baseRef) && has(self.clusterRef) && has(self.nodesGroupRef) && !has(self.source))`,message=`baseRef: a Deployable archive needs baseRef, clusterRef and nodesGroupRef, and no source`,messageExpression=`has(self.baseRef) && has(self.clusterRef) && has(self.nodesGroupRef) ? 'source: a Deployable archive is derived from its base, not built from a source: remove source' : '%s: a Deployable archive is a base adapted to one group of one cluster, and this one has no %s: set baseRef, clusterRef and nodesGroupRef'.format([(!has(self.baseRef) ? 'baseRef' : (!has(self.clusterRef) ? 'clusterRef' : (!has(self.nodesGroupRef) ? 'nodesGroupRef' : ""))), (!has(self.baseRef) ? 'baseRef' : (!has(self.clusterRef) ? 'clusterRef' : (!has(self.nodesGroupRef) ? 'nodesGroupRef' : "")))])`
// +kubebuilder:validation:XValidation:rule=`self.type == 'Configured' || !has(self.configuration)`,message=`configuration: only a Configured archive carries user configuration: remove it, or make the archive Configured`,messageExpression=`'configuration: a %s archive carries no user configuration (only a Configured one does): remove it, or make the archive Configured'.format([self.type])`
// +kubebuilder:validation:XValidation:rule=`self.type == oldSelf.type`,message=`type: is immutable: create a new FlashArchive of the other type`,messageExpression=`'type: %s cannot become %s: the type of an archive is immutable, create a new FlashArchive instead'.format([oldSelf.type, self.type])`
type FlashArchiveSpec struct {
	// type is Generic, Configured or Deployable; it cannot change.
	// +required
	Type ArchiveType `json:"type,omitempty"`
	// arch of the binary section; a Configured or Deployable archive inherits its base's.
	// +optional
	Arch Arch `json:"arch,omitempty"`
	// os is the operating system of the binary section.
	// +optional
	OS *OSSpec `json:"os,omitempty"`
	// source is what a Generic archive is built from.
	// +optional
	Source *ArchiveSource `json:"source,omitempty"`
	// baseRef is the Generic or Configured archive a derived one starts from.
	// +optional
	BaseRef *LocalObjectReference `json:"baseRef,omitempty"`
	// clusterRef names the Cluster a Deployable archive is adapted to.
	// +optional
	ClusterRef *LocalObjectReference `json:"clusterRef,omitempty"`
	// nodesGroupRef names the NodesGroup a Deployable archive is adapted to.
	// +optional
	NodesGroupRef *LocalObjectReference `json:"nodesGroupRef,omitempty"`
	// configuration is the configuration section of a Configured archive; given again, it
	// replaces the base's section, it never stacks.
	// +optional
	Configuration *Configuration `json:"configuration,omitempty"`
	// limits bound this archive's build in time and size; what it leaves unset, the
	// manager's flags decide.
	// +optional
	Limits *BuildLimits `json:"limits,omitempty"`
}

// BuildLimits bound a build: each download step, the whole build, and the size of a source.
// A bound that passes ends the build Failed, with a reason naming it.
type BuildLimits struct {
	// connectTimeout bounds connecting (TCP and TLS) to a source's server, as "30s".
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// firstByteTimeout bounds the wait for the response headers once the request is sent.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	FirstByteTimeout string `json:"firstByteTimeout,omitempty"`
	// idleTimeout bounds a pause in the body of a download.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	IdleTimeout string `json:"idleTimeout,omitempty"`
	// downloadTimeout bounds a whole download.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	DownloadTimeout string `json:"downloadTimeout,omitempty"`
	// buildTimeout bounds the whole build, download and packing included.
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	BuildTimeout string `json:"buildTimeout,omitempty"`
	// maxSize bounds the source as fetched and the uncompressed tar it holds, as "8Gi".
	// +kubebuilder:validation:Pattern=`^[0-9]+(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	MaxSize string `json:"maxSize,omitempty"`
}

// ArchiveSource is exactly one way to get a root file system.
// +kubebuilder:validation:XValidation:rule=`[has(self.image), has(self.rootfs), has(self.build), has(self.capture)].filter(x, x).size() == 1`,message=`exactly one of image, rootfs, build, capture must be set: keep one`,messageExpression=`!has(self.image) && !has(self.rootfs) && !has(self.build) && !has(self.capture) ? 'none of image, rootfs, build, capture is set: set exactly one' : '%s are set together: keep exactly one of image, rootfs, build, capture'.format([((has(self.image) ? 'image, ' : "") + (has(self.rootfs) ? 'rootfs, ' : "") + (has(self.build) ? 'build, ' : "") + (has(self.capture) ? 'capture, ' : "")).substring(0, ((has(self.image) ? 'image, ' : "") + (has(self.rootfs) ? 'rootfs, ' : "") + (has(self.build) ? 'build, ' : "") + (has(self.capture) ? 'capture, ' : "")).size() - 2)])`
type ArchiveSource struct {
	// image is an OCI container image flattened to a root file system.
	// +optional
	Image *ImageSource `json:"image,omitempty"`
	// rootfs is a tarball fetched from a URL and checked against its digest.
	// +optional
	Rootfs *RootfsSource `json:"rootfs,omitempty"`
	// build runs a base image as the master system, installs the group's software, then
	// captures it.
	// +optional
	Build *BuildSource `json:"build,omitempty"`
	// capture streams back the root file system of a real prototype node.
	// +optional
	Capture *CaptureSource `json:"capture,omitempty"`
}

// ImageSource names an OCI image.
type ImageSource struct {
	// ref is the image reference (registry/repository:tag or @digest).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Ref string `json:"ref,omitempty"`
	// pullSecretRef names a Secret of the archive's namespace, of type
	// kubernetes.io/dockerconfigjson (what `kubectl create secret docker-registry` makes), with
	// the registry's credentials; absent, the image is pulled anonymously. The manager's own
	// credentials are never used for a namespace's image.
	// +optional
	PullSecretRef *LocalObjectReference `json:"pullSecretRef,omitempty"`
}

// RootfsSource is a tarball of a root file system.
type RootfsSource struct {
	// url is where the tarball is fetched from.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^(https?|file)://.+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`
	// digest is the tarball's sha256 digest; a tarball with another is refused.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	// +kubebuilder:validation:MaxLength=71
	Digest string `json:"digest,omitempty"`
}

// BuildSource builds a generic archive as the master system: a base root file system, the
// software of a NodesGroup installed into it with apt by the build (never by the controller),
// optionally customized by hand, then captured and packed like a rootfs tarball.
type BuildSource struct {
	// base is the root file system the software is installed into.
	// +required
	Base BuildBase `json:"base,omitzero"`
	// nodesGroupRef names the group whose software.packages (at the versions given) and then
	// software.corrections are installed; absent, the base is captured as it is.
	// +optional
	NodesGroupRef *LocalObjectReference `json:"nodesGroupRef,omitempty"`
	// repositories are apt sources, one-line format ("deb http://deb.debian.org/debian
	// bookworm main"), that the build adds to the base's own while it installs; they are
	// removed before the capture, as are the package lists they gave.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:Pattern=`^deb(-src)? `
	// +listType=atomic
	// +optional
	Repositories []string `json:"repositories,omitempty"`
	// pause stops the build for a person to customize the master system: BeforeCapture waits
	// (phase AwaitingCustomization, the status says how to get a shell in the build root)
	// after the software is installed and before the capture, until the annotation
	// flarecast.io/customized is set; absent, the build does not stop.
	// +optional
	Pause BuildPause `json:"pause,omitempty"`
	// sourceDateEpoch is the time, in seconds since 1970, that the build gives its tools as
	// SOURCE_DATE_EPOCH and every entry of the archive as its modification time; absent,
	// 1700000000 (2023-11-14, as hack/debian-base.sh). It is an input: a new one, a new build.
	// +kubebuilder:validation:Minimum=1
	// +optional
	SourceDateEpoch int64 `json:"sourceDateEpoch,omitempty"`
}

// BuildBase is exactly one root file system to start a build from.
// +kubebuilder:validation:XValidation:rule=`[has(self.image), has(self.rootfs), has(self.debian)].filter(x, x).size() == 1`,message=`base: exactly one of image, rootfs, debian must be set: keep one`
type BuildBase struct {
	// image is an OCI image flattened into the build root, as source.image is.
	// +optional
	Image *ImageSource `json:"image,omitempty"`
	// rootfs is a tarball extracted into the build root, as source.rootfs is.
	// +optional
	Rootfs *RootfsSource `json:"rootfs,omitempty"`
	// debian is a Debian suite that mmdebstrap installs from a mirror into the build root.
	// +optional
	Debian *DebianBase `json:"debian,omitempty"`
}

// DebianBase is a Debian suite installed with mmdebstrap.
type DebianBase struct {
	// suite is the Debian suite or codename, as "bookworm".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z][-a-z0-9.]*$`
	Suite string `json:"suite,omitempty"`
	// mirror is the Debian mirror's URL, as "http://deb.debian.org/debian".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(https?|file)://[^ ]+$`
	Mirror string `json:"mirror,omitempty"`
	// variant is mmdebstrap's package set before the group's software: minbase (the
	// default: Essential packages and apt), apt, required, important or standard.
	// +kubebuilder:validation:Enum=minbase;apt;required;important;standard
	// +optional
	Variant string `json:"variant,omitempty"`
}

// BuildPause is where a build stops for a person to customize the master system.
// +kubebuilder:validation:Enum=BeforeCapture
type BuildPause string

// BuildPauseBeforeCapture waits, after the software is installed and before the capture, until
// the annotation flarecast.io/customized is set.
const BuildPauseBeforeCapture BuildPause = "BeforeCapture"

// CaptureSource names a prototype node to capture.
type CaptureSource struct {
	// nodesGroupRef names the group of the prototype node.
	// +required
	NodesGroupRef LocalObjectReference `json:"nodesGroupRef,omitzero"`
	// node is the prototype node's name in that group.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Node string `json:"node,omitempty"`
}

// ArchiveSection is one section (OCI layer or config) of a stored archive.
type ArchiveSection struct {
	// name of the section (binary, configuration, cluster).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// mediaType is the OCI media type of the section's blob.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	MediaType string `json:"mediaType,omitempty"`
	// digest is the blob's digest.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=71
	Digest string `json:"digest,omitempty"`
	// size is the blob's size in bytes.
	// +required
	// +kubebuilder:validation:Minimum=0
	Size int64 `json:"size"`
}

// FlashArchiveStatus is what was built.
type FlashArchiveStatus struct {
	// conditions are Ready (built and stored) and InUse.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is for display; the conditions are the truth.
	// +optional
	Phase ArchivePhase `json:"phase,omitempty"`
	// digest is the digest of the archive's OCI manifest.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	Digest string `json:"digest,omitempty"`
	// sections are the archive's OCI layers and config, by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Sections []ArchiveSection `json:"sections,omitempty"`
	// size is the total of the sections' sizes, in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// location is where the archive is stored (repository and name).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Location string `json:"location,omitempty"`
	// inputsDigest is a digest of everything the archive was made from: same inputs, same
	// archive.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	InputsDigest string `json:"inputsDigest,omitempty"`
	// baseDigest is the manifest digest of the base archive.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	BaseDigest string `json:"baseDigest,omitempty"`
	// progress is how far the running build has got; it goes when the build ends, and a
	// failed build's message says how far it got.
	// +optional
	Progress *BuildProgress `json:"progress,omitempty"`
	// shell is, while the archive is AwaitingCustomization, the command that opens a shell in
	// its build root; annotate the archive flarecast.io/customized to capture it.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Shell string `json:"shell,omitempty"`
	// capture is, for a source.capture archive, what the install server did with the
	// prototype node's uploads. The install server writes it (field manager
	// flarecast-installserver); the controller checks what it names against the repository
	// before the archive is Ready, and never writes it.
	// +optional
	Capture *CaptureStatus `json:"capture,omitempty"`
}

// CaptureStatus is the install server's record of a capture.
type CaptureStatus struct {
	// node is the prototype node uploaded from, as namespace/cluster/node.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Node string `json:"node,omitempty"`
	// attempts counts the uploads the node began.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// digest is the manifest digest of the archive the last complete upload was packed into.
	// +kubebuilder:validation:MaxLength=71
	// +optional
	Digest string `json:"digest,omitempty"`
	// inputsDigest is that archive's inputs digest (its node, exclusions and mount points).
	// +kubebuilder:validation:MaxLength=71
	// +optional
	InputsDigest string `json:"inputsDigest,omitempty"`
	// excluded are the paths the capture left out (path.Match patterns relative to the root),
	// and the mount points it left empty: the archive's inputs list the same.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=1024
	// +optional
	Excluded []string `json:"excluded,omitempty"`
	// message says how the last upload went: packed, or why it failed (the node is asked
	// again at its next heartbeat).
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Message string `json:"message,omitempty"`
	// lastUploadTime is when the last upload ended.
	// +optional
	LastUploadTime *metav1.Time `json:"lastUploadTime,omitempty"`
}

// BuildProgress is how far a running build has got.
type BuildProgress struct {
	// stage is start (before the build reports), download (an http(s) source), read (a
	// file:// source), base and install (a build source), customize (waiting for a person,
	// phase AwaitingCustomization) or pack.
	// +required
	// +kubebuilder:validation:MaxLength=16
	Stage string `json:"stage"`
	// bytes is how much the stage has read so far.
	// +required
	// +kubebuilder:validation:Minimum=0
	Bytes int64 `json:"bytes"`
	// total is the size the source declared, when it did.
	// +kubebuilder:validation:Minimum=0
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
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what the archive is made from.
	// +optional
	Spec FlashArchiveSpec `json:"spec,omitempty"`
	// status is what was built.
	// +optional
	Status FlashArchiveStatus `json:"status,omitempty"`
}

// FlashArchiveList is a list of FlashArchives.
// +kubebuilder:object:root=true
type FlashArchiveList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	// items are the FlashArchives.
	Items []FlashArchive `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FlashArchive{}, &FlashArchiveList{})
}
