package executor

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels on what the Job executor creates.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelComponent = "app.kubernetes.io/component"
	managedBy      = "flarecast"
	component      = "archive-build"
	requestKey     = "request.json"
	progressKey    = "progress-token"
	requestDir     = "/etc/flarecast/request"
	// buildWorkDir is an emptyDir of the pod's: downloads and spooled contents go with it.
	buildWorkDir = "/var/lib/flarecast/work"
)

// JobOptions configure NewJob.
type JobOptions struct {
	Client client.Client
	// Image runs the build; it holds the flarecast binary.
	Image string
	// BuildImage runs a build source (Spec.BuildRoot): the flarecast binary at Command[0] and
	// the tools the build calls (mmdebstrap, apt, dpkg, unshare, chroot, mount): the
	// Dockerfile's builder stage. Default: Image.
	BuildImage string
	// BuildPod is how a build source's pod gets the rights its build root needs; default
	// BuildPodUserNamespace.
	BuildPod BuildPod
	// Command runs a build in the image; the executor appends --request FILE. Default:
	// /flarecast archive build, where the project's image has its binary.
	Command []string
	// RepositoryClaim, when set, is a PersistentVolumeClaim mounted at RepositoryPath: the
	// repository directory the manager uses too. Not needed for a registry.
	RepositoryClaim string
	RepositoryPath  string
	// ServiceAccount runs the build pod (default: the namespace's default).
	ServiceAccount string
	// Reader reads the pods of failed Jobs, for their termination messages; default Client.
	// The manager passes its uncached reader: a failed build is rare, a cache of every pod
	// of the cluster is not worth it.
	Reader client.Reader
	// Progress and ProgressURL, when both are set, let build pods report their progress:
	// ProgressURL is the base URL at which pods reach the manager's Progress endpoint.
	Progress    *ProgressReceiver
	ProgressURL string
}

// Job runs each build as a batch/v1 Job in the owner's namespace, with the request in a
// Secret of the same name (a request carries the content of Secret-sourced install scripts). Both are owned by the job's owner, so its controller, which
// Owns Jobs, hears of each change, and deleting the owner deletes them.
type Job struct{ opts JobOptions }

var _ Executor = (*Job)(nil)

// NewJob returns a Job executor.
func NewJob(opts JobOptions) (*Job, error) {
	if opts.Image == "" {
		return nil, fmt.Errorf("job executor: an image is required")
	}
	if opts.RepositoryClaim != "" && !path.IsAbs(opts.RepositoryPath) {
		return nil, fmt.Errorf("job executor: the repository claim is mounted at the repository's path, which must be absolute (not %q)", opts.RepositoryPath)
	}
	if opts.BuildImage == "" {
		opts.BuildImage = opts.Image
	}
	if opts.BuildPod == "" {
		opts.BuildPod = BuildPodUserNamespace
	}
	if err := opts.BuildPod.validate(); err != nil {
		return nil, err
	}
	if len(opts.Command) == 0 {
		opts.Command = []string{"/flarecast", "archive", "build"}
	}
	if opts.Reader == nil {
		opts.Reader = opts.Client
	}
	if opts.ProgressURL != "" {
		u, err := url.Parse(opts.ProgressURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("job executor: the build-progress URL %q is not an http(s) URL with a host", opts.ProgressURL)
		}
	}
	return &Job{opts: opts}, nil
}

func (e *Job) reportsProgress() bool { return e.opts.Progress != nil && e.opts.ProgressURL != "" }

// Submit implements Executor.
func (e *Job) Submit(ctx context.Context, spec Spec) error {
	var existing batchv1.Job
	err := e.opts.Client.Get(ctx, client.ObjectKey{Namespace: spec.Namespace, Name: spec.Name}, &existing)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("submit %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	sec := &corev1.Secret{ObjectMeta: e.meta(spec), Data: map[string][]byte{requestKey: spec.Request}}
	if e.reportsProgress() {
		sec.Data[progressKey] = []byte(e.opts.Progress.Token(spec.Namespace, spec.Name))
	}
	if err := e.opts.Client.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("submit %s/%s: request Secret: %w", spec.Namespace, spec.Name, err)
	}
	if err := e.opts.Client.Create(ctx, e.JobFor(spec)); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("submit %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	return nil
}

func (e *Job) meta(spec Spec) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: spec.Namespace, Name: spec.Name,
		Labels:          map[string]string{LabelManagedBy: managedBy, LabelComponent: component},
		OwnerReferences: []metav1.OwnerReference{spec.Owner},
	}
}

var noRetries int32

func deadlineSeconds(d time.Duration) *int64 {
	if d <= 0 {
		return nil
	}
	s := int64((d + time.Second - 1) / time.Second)
	return &s
}

// JobFor is the Job that runs spec's build.
func (e *Job) JobFor(spec Spec) *batchv1.Job {
	args := append(append([]string(nil), e.opts.Command[1:]...), "--request", requestDir+"/"+requestKey, "--work-dir", buildWorkDir,
		"--termination-log", TerminationLogPath)
	if e.reportsProgress() {
		args = append(args, "--progress-url", strings.TrimSuffix(e.opts.ProgressURL, "/")+progressPath(spec.Namespace, spec.Name),
			"--progress-token-file", requestDir+"/"+progressKey)
	}
	no, yes := false, true
	c := corev1.Container{
		Name: buildContainer, Image: e.opts.Image, Command: []string{e.opts.Command[0]}, Args: args,
		// A build that dies before it writes its outcome still says something: its log's tail.
		TerminationMessagePath:   TerminationLogPath,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		VolumeMounts: []corev1.VolumeMount{
			{Name: "request", MountPath: requestDir, ReadOnly: true},
			// Downloads and the spool of a repacked tar go to the work directory.
			{Name: "work", MountPath: buildWorkDir},
			{Name: "tmp", MountPath: "/tmp"},
		},
		// What the restricted Pod Security Standard asks, so builds run in any namespace.
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	pod := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: e.opts.ServiceAccount,
		// A build reads its request from a file and writes to the repository: it has no
		// business with the API server, so its pod gets no token to reach it with.
		AutomountServiceAccountToken: &no,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{
			{Name: "request", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: spec.Name},
			}},
			{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	if spec.BuildRoot {
		pod.Containers[0].Image = e.opts.BuildImage
		pod.SecurityContext, pod.Containers[0].SecurityContext, pod.HostUsers = BuildPodSecurity(e.opts.BuildPod)
	}
	if e.opts.RepositoryClaim != "" {
		pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "repository", MountPath: e.opts.RepositoryPath})
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "repository", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: e.opts.RepositoryClaim},
		}})
	}
	return &batchv1.Job{
		ObjectMeta: e.meta(spec),
		Spec: batchv1.JobSpec{
			// A build that failed fails again on the same inputs: the controller reports it
			// rather than the Job retrying it.
			BackoffLimit:          &noRetries,
			ActiveDeadlineSeconds: deadlineSeconds(spec.Deadline),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelManagedBy: managedBy, LabelComponent: component}},
				Spec:       pod,
			},
		},
	}
}

// State implements Executor: the Job's conditions. The Job does not know the digest; the
// controller reads the archive back from the repository by its name.
func (e *Job) State(ctx context.Context, namespace, name string) (State, error) {
	var j batchv1.Job
	if err := e.opts.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &j); err != nil {
		if apierrors.IsNotFound(err) {
			return State{}, nil
		}
		return State{}, fmt.Errorf("state of Job %s/%s: %w", namespace, name, err)
	}
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return State{Phase: Succeeded, Message: "Job " + name + " completed"}, nil
		case batchv1.JobFailed:
			// The Job stays for its logs; its request, which may carry Secret content, has no
			// more use once the pod ran, and goes now rather than with the FlashArchive.
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
			if err := e.opts.Client.Delete(ctx, sec); client.IgnoreNotFound(err) != nil {
				return State{}, fmt.Errorf("delete the request Secret of failed Job %s/%s: %w", namespace, name, err)
			}
			return e.failed(ctx, &j, c), nil
		}
	}
	if j.Status.Active > 0 {
		st := State{Phase: Running, Message: "Job " + name + " is running"}
		if e.opts.Progress != nil {
			st.Progress = e.opts.Progress.Latest(namespace, name)
		}
		return st, nil
	}
	return State{Phase: Pending, Message: "Job " + name + " is waiting for its pod"}, nil
}

// failed is the State of a failed Job: the build's own reason and message from its pod's
// termination message when there is one, else the Job controller's.
func (e *Job) failed(ctx context.Context, j *batchv1.Job, c batchv1.JobCondition) State {
	logs := fmt.Sprintf("(kubectl logs -n %s job/%s)", j.Namespace, j.Name)
	st := State{Phase: Failed, Message: fmt.Sprintf("Job %s failed: %s: %s %s", j.Name, c.Reason, c.Message, logs)}
	var pods corev1.PodList
	if err := e.opts.Reader.List(ctx, &pods, client.InNamespace(j.Namespace), client.MatchingLabels{batchv1.JobNameLabel: j.Name}); err != nil {
		st.Message += fmt.Sprintf("; its pod could not be read: %v", err)
		return st
	}
	for _, p := range pods.Items {
		if !ownedBy(p.OwnerReferences, j.Name) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if t := cs.State.Terminated; cs.Name == buildContainer && t != nil && t.Message != "" {
				o := decodeOutcome(t.Message)
				st.Reason = o.Reason
				st.Message = fmt.Sprintf("%s (Job %s, exit code %d) %s", o.Message, j.Name, t.ExitCode, logs)
				return st
			}
		}
	}
	return st
}

// ForgetOwner implements Executor: it deletes the owner's Jobs (their pods with them) and
// request Secrets now, rather than leave them to the garbage collector once the owner is
// gone, so that no build still running tags an archive its owner's deletion just untagged.
func (e *Job) ForgetOwner(ctx context.Context, namespace, owner string) error {
	sel := client.MatchingLabels{LabelManagedBy: managedBy, LabelComponent: component}
	var jobs batchv1.JobList
	if err := e.opts.Client.List(ctx, &jobs, client.InNamespace(namespace), sel); err != nil {
		return fmt.Errorf("forget the Jobs of %s/%s: %w", namespace, owner, err)
	}
	for i := range jobs.Items {
		if ownedBy(jobs.Items[i].OwnerReferences, owner) {
			if e.opts.Progress != nil {
				e.opts.Progress.Forget(namespace, jobs.Items[i].Name)
			}
			if err := e.opts.Client.Delete(ctx, &jobs.Items[i], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("forget Job %s/%s: %w", namespace, jobs.Items[i].Name, err)
			}
		}
	}
	var secrets corev1.SecretList
	if err := e.opts.Client.List(ctx, &secrets, client.InNamespace(namespace), sel); err != nil {
		return fmt.Errorf("forget the request Secrets of %s/%s: %w", namespace, owner, err)
	}
	for i := range secrets.Items {
		if ownedBy(secrets.Items[i].OwnerReferences, owner) {
			if err := e.opts.Client.Delete(ctx, &secrets.Items[i]); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("forget Secret %s/%s: %w", namespace, secrets.Items[i].Name, err)
			}
		}
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, owner string) bool {
	for _, r := range refs {
		if r.Name == owner {
			return true
		}
	}
	return false
}

// Forget implements Executor: it deletes a finished Job (with its pods) and its Secret.
func (e *Job) Forget(ctx context.Context, namespace, name string) error {
	st, err := e.State(ctx, namespace, name)
	if err != nil || st.Phase == Pending || st.Phase == Running {
		return err
	}
	if e.opts.Progress != nil {
		e.opts.Progress.Forget(namespace, name)
	}
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := e.opts.Client.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("forget Job %s/%s: %w", namespace, name, err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := e.opts.Client.Delete(ctx, sec); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("forget Secret %s/%s: %w", namespace, name, err)
	}
	return nil
}
