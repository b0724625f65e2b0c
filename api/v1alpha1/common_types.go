package v1alpha1

// LocalObjectReference names an object of a known kind in the same namespace.
type LocalObjectReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// Arch is a CPU architecture, with Go's names.
// +kubebuilder:validation:Enum=amd64;arm64
type Arch string

// Condition types shared by the kinds.
const (
	// ConditionValid is True when every rule on the object (and those spanning objects it
	// takes part in) holds; its message lists the problems otherwise.
	ConditionValid = "Valid"
	// ConditionModelComplete is True when the cluster's model has everything a deployable
	// archive needs: machine, network, every node placed and addressed.
	ConditionModelComplete = "ModelComplete"
	// ConditionArchivesReady is True when every group's deployable archive is built.
	ConditionArchivesReady = "ArchivesReady"
	// ConditionDeployed is True when every node runs its group's deployable archive.
	ConditionDeployed = "Deployed"
	// ConditionReady is True when a FlashArchive is built and stored.
	ConditionReady = "Ready"
	// ConditionInUse is True on a Machine or Network that a Cluster references.
	ConditionInUse = "InUse"
)

// Condition reasons, CamelCase as the API conventions ask.
const (
	ReasonValid             = "Valid"
	ReasonInvalid           = "Invalid"
	ReasonComplete          = "Complete"
	ReasonIncomplete        = "Incomplete"
	ReasonClusterNotFound   = "ClusterNotFound"
	ReasonReferenced        = "Referenced"
	ReasonNotReferenced     = "NotReferenced"
	ReasonDeletionBlocked   = "DeletionBlocked"
	ReasonMachineNotFound   = "MachineNotFound"
	ReasonNetworkNotFound   = "NetworkNotFound"
	ReasonGroupsInvalid     = "GroupsInvalid"
	ReasonNotEnoughMasters  = "NotEnoughMasterEligibleNodes"
	ReasonNoGroups          = "NoNodesGroups"
	ReasonConfigurationMiss = "ConfigurationMissing"
)

// ConfigSource is where the bytes of a user file or script come from: a key of a ConfigMap or
// of a Secret in the same namespace, or inline text for small files.
// +kubebuilder:validation:XValidation:rule="[has(self.configMapKeyRef), has(self.secretKeyRef), has(self.inline)].filter(x, x).size() == 1",message="exactly one of configMapKeyRef, secretKeyRef, inline must be set"
type ConfigSource struct {
	// +optional
	ConfigMapKeyRef *KeyReference `json:"configMapKeyRef,omitempty"`
	// +optional
	SecretKeyRef *KeyReference `json:"secretKeyRef,omitempty"`
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Inline *string `json:"inline,omitempty"`
}

// KeyReference names one key of a ConfigMap or Secret.
type KeyReference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ScriptStage says when a user install script runs on a node.
// +kubebuilder:validation:Enum=FirstBoot;BeforeServices;AfterServices
type ScriptStage string

const (
	// StageFirstBoot scripts run once, right after the archive is written, before the reboot.
	StageFirstBoot ScriptStage = "FirstBoot"
	// StageBeforeServices scripts run before the foundation services start; with doubleReboot
	// the node reboots once more after them.
	StageBeforeServices ScriptStage = "BeforeServices"
	// StageAfterServices scripts run once the foundation services are up.
	StageAfterServices ScriptStage = "AfterServices"
)

// Configuration is user data and install scripts added to an archive (the seed's configuration
// and file classes): a configured archive carries it as its configuration section.
type Configuration struct {
	// Files are placed at their path on every node of the group.
	// +listType=map
	// +listMapKey=path
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Files []ConfigFile `json:"files,omitempty"`
	// Scripts install the user data; they run by stage, then by order, then by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Scripts []Script `json:"scripts,omitempty"`
	// DoubleReboot reboots the node once more after the BeforeServices scripts, for
	// configuration that only takes effect at boot.
	// +optional
	DoubleReboot bool `json:"doubleReboot,omitempty"`
}

// ConfigFile is one user file.
type ConfigFile struct {
	// +kubebuilder:validation:Pattern=`^/[^\x00]*$`
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="!self.contains('/../') && !self.endsWith('/..')",message="path must not contain '..' segments"
	Path string `json:"path"`
	// Mode is the file's permission bits, as a number (0644 is 420).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4095
	// +kubebuilder:default=420
	// +optional
	Mode int32 `json:"mode,omitempty"`
	// +optional
	UID int32 `json:"uid,omitempty"`
	// +optional
	GID    int32        `json:"gid,omitempty"`
	Source ConfigSource `json:"source"`
}

// Script is one user install script.
type Script struct {
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][-._a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`
	// +kubebuilder:default=AfterServices
	// +optional
	Stage ScriptStage `json:"stage,omitempty"`
	// Order sorts the scripts of one stage, lowest first.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=999
	// +optional
	Order  int32        `json:"order,omitempty"`
	Source ConfigSource `json:"source"`
}
