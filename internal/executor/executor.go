package executor

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is where a job is.
type Phase string

const (
	// Unknown: no job of that name (never submitted, or forgotten).
	Unknown   Phase = ""
	Pending   Phase = "Pending"
	Running   Phase = "Running"
	Succeeded Phase = "Succeeded"
	Failed    Phase = "Failed"
)

// Spec is one job to run.
type Spec struct {
	// Namespace and Name identify the job; the name is deterministic (the same build
	// request gets the same name), so submitting twice runs once.
	Namespace, Name string
	// Owner is the object the job works for: the Job executor makes it the owner of what it
	// creates, so the owner's controller hears of the job's progress.
	Owner metav1.OwnerReference
	// Request is the build request, JSON.
	Request []byte
	// BuildRoot is set for a build source: the job makes a build root (chroot, mount and PID
	// namespaces, files of every owner), which the Job executor's restricted pods cannot.
	BuildRoot bool
	// Deadline, when positive, bounds the job's run: the executor stops it after that long.
	// A build bounds itself first (its own timeout, with a precise reason); this is the
	// backstop for one that does not.
	Deadline time.Duration
}

// State is what became of a job.
type State struct {
	Phase   Phase
	Message string
	// Digest is the manifest digest of the archive built, when the executor knows it.
	Digest string
	// Retryable is set on a Failed job that did not fail by itself (its process went away
	// with a manager that stopped): submitting it again runs it again.
	Retryable bool
	// Reason is, for a Failed job that a limit or a check of the build stopped, the build's
	// CamelCase reason (DownloadTimeout, SourceTooLarge…); empty otherwise.
	Reason string
	// Progress is how far a Running job has got, when the executor knows.
	Progress *Progress
}

// Progress is how far a running build has got, as `archive build --progress` writes it.
type Progress struct {
	Stage string `json:"stage"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total,omitempty"`
	// Root is, in a build source's customize stage, its build root.
	Root string `json:"root,omitempty"`
}

// Executor runs build jobs.
type Executor interface {
	// Submit starts the job unless one of that name exists; a Retryable failed job is run
	// again.
	Submit(ctx context.Context, spec Spec) error
	// State reports the job's state; Phase is Unknown when there is no such job.
	State(ctx context.Context, namespace, name string) (State, error)
	// Forget drops a finished job and what it kept; a running job is left alone.
	Forget(ctx context.Context, namespace, name string) error
	// ForgetOwner drops every job of an owner that is going away: finished ones with what
	// they kept, running and waiting ones stopped (Local has stopped them when it returns;
	// Job leaves its Jobs to the garbage collector, which deletes them with their owner).
	ForgetOwner(ctx context.Context, namespace, owner string) error
}
