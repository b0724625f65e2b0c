package controllers

// Reasons of a FlashArchive's Ready condition and of a Cluster's ArchivesReady condition.
const (
	// ReasonBuilt: the archive is in the repository, built from the current inputs.
	ReasonBuilt = "Built"
	// ReasonBuilding: a build of the current inputs is pending or running in the executor.
	ReasonBuilding = "Building"
	// ReasonAwaitingCustomization: a build source waits, its software installed, for a person
	// to customize its build root and annotate the archive.
	ReasonAwaitingCustomization = "AwaitingCustomization"
	// ReasonPauseNotSupported: a build source asks for a pause that this manager's executor
	// cannot offer (the Job executor without its build-progress endpoint).
	ReasonPauseNotSupported = "PauseNotSupported"
	// ReasonBuildFailed: the executor ran the build and it failed; the message says why.
	ReasonBuildFailed = "BuildFailed"
	// ReasonInvalidSpec: the spec is admissible but cannot be built (no arch, a base of the
	// wrong type, a group of another cluster).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonBaseNotFound: spec.baseRef names no FlashArchive.
	ReasonBaseNotFound = "BaseNotFound"
	// ReasonBaseNotReady: the base (or, for a deployable, the archive of a group of the same
	// software load) is not Ready yet; the archive waits for it.
	ReasonBaseNotReady = "BaseNotReady"
	// ReasonNodesGroupNotFound: a deployable's spec.nodesGroupRef names no NodesGroup.
	ReasonNodesGroupNotFound = "NodesGroupNotFound"
	// ReasonModelNotReady: a deployable waits for its cluster's model to be complete and valid.
	ReasonModelNotReady = "ModelNotReady"
	// ReasonArchMismatch: a deployable's base holds a root file system of another arch than
	// its group's nodes.
	ReasonArchMismatch = "ArchMismatch"
	// ReasonTemplateFailed: a foundation-service template did not render.
	ReasonTemplateFailed = "TemplateFailed"
	// ReasonResultMissing: the executor says the build succeeded but the repository does not
	// hold an archive of the current inputs under the archive's name.
	ReasonResultMissing = "ResultMissing"
	// ReasonArchivesBuilt: every group's deployable archive is Ready.
	ReasonArchivesBuilt = "ArchivesBuilt"
	// ReasonNoArchiveRef: a group names no archive, so it has no deployable archive.
	ReasonNoArchiveRef = "NoArchiveRef"
	// ReasonArchivesNotReady: some group's deployable archive is missing or not Ready.
	ReasonArchivesNotReady = "ArchivesNotReady"
)

// Reasons of a source.capture archive's Ready condition.
const (
	// ReasonAwaitingCapture: the prototype node runs and the install server of its site asks
	// it for its root at its next heartbeat (phase AwaitingCapture).
	ReasonAwaitingCapture = "AwaitingCapture"
	// ReasonCaptured: the install server packed the node's upload and the repository holds it.
	ReasonCaptured = "Captured"
	// ReasonCaptureNodeNotFound: the NodesGroup has no node of that name.
	ReasonCaptureNodeNotFound = "CaptureNodeNotFound"
	// ReasonCaptureNodeNotRunning: the node does not report Running: nothing streams its root.
	ReasonCaptureNodeNotRunning = "CaptureNodeNotRunning"
	// ReasonCaptureNotSupported: the node has no root of its own to capture (Diskless).
	ReasonCaptureNotSupported = "CaptureNotSupported"
	// ReasonNoInstallServer: no install server serves the node's Cluster (no site).
	ReasonNoInstallServer = "NoInstallServer"
	// ReasonCaptureInvalid: status.capture names an archive the repository does not hold, or
	// one that is not this node's capture.
	ReasonCaptureInvalid = "CaptureInvalid"
)
