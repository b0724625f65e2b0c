package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"k8s.io/apimachinery/pkg/labels"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/repository"
)

// startJobManager runs a second manager that builds the labelled FlashArchives of namespace
// ns with the job executor, into repo.
func startJobManager(t *testing.T, ns, repo string) {
	t.Helper()
	startJobManagerWith(t, ns, repo, "", "")
}

// startJobManagerWith also listens for build progress at progressAddr, which pods reach at
// progressURL.
func startJobManagerWith(t *testing.T, ns, repo, progressAddr, progressURL string) {
	t.Helper()
	startJobManagerFor(t, ns, controllers.ArchiveOptions{Repository: repo, Executor: controllers.ExecutorJob,
		Job: executor.JobOptions{Image: "registry.example/flarecast:test", RepositoryClaim: "archives", RepositoryPath: repo, ServiceAccount: "builder",
			ProgressURL: progressURL},
		ProgressAddress: progressAddr,
		Limits:          build.Limits{AllowFileSources: []string{os.TempDir()}}})
}

// startJobManagerFor runs the job-executor manager with the options o.
func startJobManagerFor(t *testing.T, ns string, o controllers.ArchiveOptions) {
	t.Helper()
	sel, _ := labels.Parse(jobExecutorLabel + "=job")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: cli.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
		Cache: cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}},
			ByObject: map[client.Object]cache.ByObject{&fcv1.FlashArchive{}: {Label: sel}}},
		// The suite's manager already runs controllers of these names.
		Controller: config.Controller{SkipNameValidation: ptrTo(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = controllers.SetupArchives(ctx, mgr, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("job manager: %v", err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

// buildJob waits for the Job of a FlashArchive's build and returns it.
func buildJob(t *testing.T, ns, archive string) *batchv1.Job {
	t.Helper()
	var job *batchv1.Job
	eventually(t, "the build Job of "+archive, func() error {
		var list batchv1.JobList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range list.Items {
			j := &list.Items[i]
			if len(j.OwnerReferences) == 1 && j.OwnerReferences[0].Name == archive {
				job = j
				return nil
			}
		}
		return fmt.Errorf("no Job owned by %s among %d", archive, len(list.Items))
	})
	return job
}

// setJobStatus writes what the Job controller would once the pod ended.
func setJobStatus(t *testing.T, job *batchv1.Job, succeeded bool) {
	t.Helper()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	st := batchv1.JobStatus{StartTime: &now}
	if job.Status.StartTime != nil {
		st.StartTime = job.Status.StartTime // immutable once set
	}
	if succeeded {
		st.Succeeded, st.CompletionTime = 1, &now
		st.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	} else {
		st.Failed = 1
		st.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now}}
	}
	job.Status = st
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatalf("write Job status: %v", err)
	}
}

// TestJobExecutorBuildsInAJobAndFollowsItsStatus plays the kubelet, which envtest lacks: it
// runs the Job's command (flarecast archive build with the request from the Job's
// Secret) and writes the Job's status; the FlashArchive follows the Job.
func TestJobExecutorBuildsInAJobAndFollowsItsStatus(t *testing.T) {
	ns := newNamespace(t)
	repo := t.TempDir()
	startJobManager(t, ns, repo)
	url, dgst := tinyRootfs(t)
	good, bad := genericArchive(ns, "base", url, dgst), genericArchive(ns, "broken", url, dgst)
	for _, fa := range []*fcv1.FlashArchive{good, bad} {
		fa.Labels = map[string]string{jobExecutorLabel: "job"}
	}
	createAll(t, ns, []client.Object{good, bad})

	job := buildJob(t, ns, "base")
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	if owner := job.OwnerReferences[0]; owner.Kind != "FlashArchive" || owner.Controller == nil || !*owner.Controller ||
		job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever ||
		// The default 2h buildTimeout, and a minute for a build that does not stop itself.
		job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 7260 ||
		pod.ServiceAccountName != "builder" || c.Image != "registry.example/flarecast:test" ||
		strings.Join(append(c.Command, c.Args...), " ") != "/flarecast archive build --request /etc/flarecast/request/request.json --work-dir /var/lib/flarecast/work --termination-log /dev/termination-log" ||
		c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError ||
		pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation ||
		len(job.Name) > 63 {
		t.Fatalf("Job %s: %+v", job.Name, job)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	if mounts["repository"] != repo || vols["repository"].PersistentVolumeClaim == nil || vols["repository"].PersistentVolumeClaim.ClaimName != "archives" ||
		mounts["request"] != "/etc/flarecast/request" || vols["request"].Secret == nil || vols["request"].Secret.SecretName != job.Name ||
		mounts["tmp"] != "/tmp" || vols["tmp"].EmptyDir == nil || mounts["work"] != "/var/lib/flarecast/work" || vols["work"].EmptyDir == nil {
		t.Fatalf("Job volumes %+v mounts %+v", pod.Volumes, c.VolumeMounts)
	}
	archiveState(t, ns, "base", fcv1.ArchiveBuilding, metav1.ConditionFalse, "Building", job.Name)

	// The pod: the request from the Secret, run by the command the Job names.
	sec := get(t, ns, job.Name, &corev1.Secret{})
	var req build.Request
	if err := json.Unmarshal(sec.Data["request.json"], &req); err != nil || req.Tag != ns+".base" || req.Repository != repo {
		t.Fatalf("request %+v (%v)", req, err)
	}
	reqFile := filepath.Join(t.TempDir(), "request.json")
	os.WriteFile(reqFile, sec.Data["request.json"], 0o600)
	if code := runCLI([]string{"archive", "build", "--request", reqFile}); code != 0 {
		t.Fatalf("archive build exited %d", code)
	}
	setJobStatus(t, job, true)
	fa := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	s, _ := repository.Open(context.Background(), repo, repository.Options{})
	if desc, err := s.Resolve(context.Background(), ns+".base"); err != nil || string(desc.Digest) != fa.Status.Digest {
		t.Fatalf("repository has %v (%v), status says %s", desc.Digest, err, fa.Status.Digest)
	}

	// The other build's pod fails: the archive is Failed with the Job's reason.
	broken := buildJob(t, ns, "broken")
	get(t, ns, broken.Name, &corev1.Secret{}) // its request, while the pod may still read it
	setJobStatus(t, broken, false)
	archiveState(t, ns, "broken", fcv1.ArchiveFailed, metav1.ConditionFalse, "BuildFailed", "BackoffLimitExceeded")
	// The failed Job stays for its logs; its request (which may hold Secret content) does not.
	eventually(t, "the failed build's request Secret is gone", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: broken.Name}, &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("Secret %s: %v", broken.Name, err)
	})
	get(t, ns, broken.Name, &batchv1.Job{})
}

// TestJobBuildReportsProgressAndItsOwnFailure: a build in a pod, which has no token for the
// API server, shows its progress in the FlashArchive's status (pushed to the manager's
// endpoint) and fails with its own reason and message (from its pod's termination message),
// not only the Job controller's BackoffLimitExceeded. The test plays the kubelet: it runs the
// pod's command with the Job's arguments, and copies the termination log into a pod status.
func TestJobBuildReportsProgressAndItsOwnFailure(t *testing.T) {
	ns := newNamespace(t)
	repo := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startJobManagerWith(t, ns, repo, addr, "http://"+addr)
	srv := hostileServer(t)
	slow := genericArchive(ns, "slow", srv+"/slow.tar", "sha256:"+strings.Repeat("0", 64))
	slow.Labels = map[string]string{jobExecutorLabel: "job"}
	// Long enough for the progress to reach the status on a loaded machine.
	slow.Spec.Limits = &fcv1.BuildLimits{DownloadTimeout: "20s"}
	createAll(t, ns, []client.Object{slow})

	job := buildJob(t, ns, "slow")
	c := job.Spec.Template.Spec.Containers[0]
	sec := get(t, ns, job.Name, &corev1.Secret{})
	dir := t.TempDir()
	args := append([]string(nil), c.Args...)
	for i := range args {
		switch args[i] {
		case "/etc/flarecast/request/request.json":
			args[i] = filepath.Join(dir, "request.json")
		case "/etc/flarecast/request/progress-token":
			args[i] = filepath.Join(dir, "progress-token")
		case "/dev/termination-log":
			args[i] = filepath.Join(dir, "termination-log")
		case "/var/lib/flarecast/work":
			args[i] = filepath.Join(dir, "work")
		}
	}
	if !strings.Contains(strings.Join(args, " "), "--progress-url http://"+addr+"/builds/"+ns+"/"+job.Name+"/progress --progress-token-file "+filepath.Join(dir, "progress-token")) {
		t.Fatalf("pod arguments %q lack the progress endpoint", c.Args)
	}
	for _, key := range []string{"request.json", "progress-token"} {
		if len(sec.Data[key]) == 0 {
			t.Fatalf("request Secret lacks %s", key)
		}
		os.WriteFile(filepath.Join(dir, key), sec.Data[key], 0o600)
	}
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptrTo(metav1.Now())}
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	exited := make(chan int, 1)
	go func() { exited <- runCLI(args) }()

	eventually(t, "the pod's progress in the FlashArchive's status", func() error {
		fa := get(t, ns, "slow", &fcv1.FlashArchive{})
		if p := fa.Status.Progress; fa.Status.Phase != fcv1.ArchiveBuilding || p == nil || p.Stage != "download" || p.Bytes == 0 || p.Total != 1<<20 {
			return fmt.Errorf("phase %s, progress %+v", fa.Status.Phase, fa.Status.Progress)
		}
		return nil
	})
	if code := <-exited; code == 0 {
		t.Fatal("the slow build succeeded")
	}
	msg, err := os.ReadFile(filepath.Join(dir, "termination-log"))
	if err != nil || len(msg) > executor.MaxTerminationMessage {
		t.Fatalf("termination log (%d bytes): %v", len(msg), err)
	}
	job = get(t, ns, job.Name, &batchv1.Job{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: job.Name + "-x7k2p",
		Labels:          map[string]string{batchv1.JobNameLabel: job.Name},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "build", Image: c.Image}}}}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "build", Image: c.Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: string(msg)}}}}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	setJobStatus(t, job, false)
	fa := archiveState(t, ns, "slow", fcv1.ArchiveFailed, metav1.ConditionFalse, "DownloadTimeout", "the download took longer than its downloadTimeout for 20s, after ")
	if !strings.Contains(meta.FindStatusCondition(fa.Status.Conditions, fcv1.ConditionReady).Message, "(Job "+job.Name+", exit code 1) (kubectl logs -n "+ns+" job/"+job.Name+")") || fa.Status.Progress != nil {
		t.Fatalf("status %+v", fa.Status)
	}
}
