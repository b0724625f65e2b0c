package v1alpha1

// LocalObjectReference names an object of a known kind in the same namespace.
type LocalObjectReference struct {
	// name of the object, in the namespace of the one that refers to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`
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
	// ConditionInstallServerReady is True when the install server of the cluster's site runs
	// (Pod mode: its Deployment is available); Unknown in Local mode, where the manager does
	// not run it.
	ConditionInstallServerReady = "InstallServerReady"
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
// +kubebuilder:validation:XValidation:rule=`[has(self.configMapKeyRef), has(self.secretKeyRef), has(self.inline)].filter(x, x).size() == 1`,message=`exactly one of configMapKeyRef, secretKeyRef, inline must be set: keep one`,messageExpression=`!has(self.configMapKeyRef) && !has(self.secretKeyRef) && !has(self.inline) ? 'none of configMapKeyRef, secretKeyRef, inline is set: set exactly one' : '%s are set together: keep exactly one of configMapKeyRef, secretKeyRef, inline'.format([((has(self.configMapKeyRef) ? 'configMapKeyRef, ' : "") + (has(self.secretKeyRef) ? 'secretKeyRef, ' : "") + (has(self.inline) ? 'inline, ' : "")).substring(0, ((has(self.configMapKeyRef) ? 'configMapKeyRef, ' : "") + (has(self.secretKeyRef) ? 'secretKeyRef, ' : "") + (has(self.inline) ? 'inline, ' : "")).size() - 2)])`
type ConfigSource struct {
	// configMapKeyRef takes the bytes from a key of a ConfigMap.
	// +optional
	ConfigMapKeyRef *KeyReference `json:"configMapKeyRef,omitempty"`
	// secretKeyRef takes the bytes from a key of a Secret, for files that hold credentials.
	// +optional
	SecretKeyRef *KeyReference `json:"secretKeyRef,omitempty"`
	// inline gives the bytes as text in the object itself, for small files.
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	Inline *string `json:"inline,omitempty"`
}

// KeyReference names one key of a ConfigMap or Secret.
type KeyReference struct {
	// name of the ConfigMap or Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`
	// key within its data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// ScriptStage says when a user install script runs on a node.
// +kubebuilder:validation:Enum=FirstBoot;BeforeServices;AfterServices
type ScriptStage string

const (
	// StageFirstBoot scripts run once, right after the archive is written, before the reboot.
	StageFirstBoot ScriptStage = "FirstBoot"
	// StageBeforeServices scripts run before the foundation services start; with reboots:
	// Twice the node reboots once more after them.
	StageBeforeServices ScriptStage = "BeforeServices"
	// StageAfterServices scripts run once the foundation services are up.
	StageAfterServices ScriptStage = "AfterServices"
)

// Configuration is user data and install scripts added to an archive (the seed's configuration
// and file classes): a configured archive carries it as its configuration section.
type Configuration struct {
	// files are placed at their path on every node of the group.
	// +listType=map
	// +listMapKey=path
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Files []ConfigFile `json:"files,omitempty"`
	// scripts install the user data; they run by stage, then by order, then by name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +optional
	Scripts []Script `json:"scripts,omitempty"`
	// reboots says how often the node boots its new system during the install: Once (the
	// default when absent), or Twice to reboot once more after the BeforeServices scripts, for
	// configuration that only takes effect at boot.
	// +optional
	Reboots Reboots `json:"reboots,omitempty"`
}

// Reboots is how often a node boots its new system during an install.
// +kubebuilder:validation:Enum=Once;Twice
type Reboots string

const (
	// RebootsOnce boots the installed system once: the FirstBoot scripts run before it, the
	// other stages after it.
	RebootsOnce Reboots = "Once"
	// RebootsTwice reboots once more after the BeforeServices scripts (the seed's double
	// reboot).
	RebootsTwice Reboots = "Twice"
)

// ConfigFile is one user file.
type ConfigFile struct {
	// path is where the file goes on the node: absolute, without '..' segments.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^/[^\x00]*$`
	// +kubebuilder:validation:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule=`!self.contains('/../') && !self.endsWith('/..')`,message=`the path has a '..' segment: write it without '..'`,messageExpression=`'path %s has a .. segment: write it without ..'.format([self])`
	Path string `json:"path,omitempty"`
	// mode is the file's permission bits, as a number (0644 is 420).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4095
	// +kubebuilder:default=420
	// +optional
	Mode int32 `json:"mode,omitempty"`
	// uid owns the file; absent, root.
	// +optional
	UID int32 `json:"uid,omitempty"`
	// gid is the file's group; absent, root's.
	// +optional
	GID int32 `json:"gid,omitempty"`
	// source is where the file's bytes come from.
	// +required
	Source ConfigSource `json:"source,omitzero"`
}

// Script is one user install script.
type Script struct {
	// name of the script, unique in the configuration; it breaks ties of stage and order.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][-._a-zA-Z0-9]*$`
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name,omitempty"`
	// stage is when the script runs on the node.
	// +kubebuilder:default=AfterServices
	// +optional
	Stage ScriptStage `json:"stage,omitempty"`
	// order sorts the scripts of one stage, lowest first.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=999
	// +optional
	Order int32 `json:"order,omitempty"`
	// source is where the script's bytes come from.
	// +required
	Source ConfigSource `json:"source,omitzero"`
}
