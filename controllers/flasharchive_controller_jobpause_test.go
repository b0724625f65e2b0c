package controllers_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
	"github.com/flarecast/flarecast/internal/repository"
)

// startPausingJobManager runs a job-executor manager that builds sources in user-namespaced
// pods and listens for their progress (what a pause needs): sources under src, the
// repository at repo.
func startPausingJobManager(t *testing.T, ns, repo, src string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startJobManagerFor(t, ns, controllers.ArchiveOptions{Repository: repo, Executor: controllers.ExecutorJob,
		Job: executor.JobOptions{Image: "registry.example/flarecast:test", BuildImage: "registry.example/flarecast-builder:test",
			RepositoryClaim: "archives", RepositoryPath: repo, ProgressURL: "http://" + addr},
		ProgressAddress: addr,
		Limits:          build.Limits{AllowFileSources: []string{src}, AllowBuildSources: true}})
}

// createJobPod plays the Job controller: the Pod object of job's one pod, named with suffix,
// labelled and owned as the Job controller makes it.
func createJobPod(t *testing.T, job *batchv1.Job, suffix string) *corev1.Pod {
	t.Helper()
	c := job.Spec.Template.Spec.Containers[0]
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name + "-" + suffix,
		Labels:          map[string]string{batchv1.JobNameLabel: job.Name},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: c.Name, Image: c.Image}}}}
	if err := k8s.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// podFailed plays the kubelet once the pod's process has exited code with its termination
// message msg: the pod Failed, its container terminated with both.
func podFailed(t *testing.T, pod *corev1.Pod, code int, msg []byte) {
	t.Helper()
	c := pod.Spec.Containers[0]
	pod.Status.Phase = corev1.PodFailed
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Error", Message: string(msg)}}}}
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
}

// pausedPod plays the Job controller and the kubelet for the build Job of archive: the
// Job active, its Pod object Running, the container started; it returns them once the archive
// awaits customization. env is added to the pod's environment.
func pausedPod(t *testing.T, ns, archive, dir string, env ...string) (*batchv1.Job, *corev1.Pod, *podProcess, *fcv1.FlashArchive) {
	t.Helper()
	job := buildJob(t, ns, archive)
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptrTo(metav1.Now())}
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	pod := createJobPod(t, job, "q4m7x")
	pod.Status.Phase = corev1.PodRunning
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	proc := startPod(t, job, dir, env...)
	fa := waitArchive(t, ns, archive, fcv1.ArchiveAwaitingCustomization, "AwaitingCustomization")
	return job, pod, proc, fa
}

// pausedJobBuild is an archive built by a job-executor manager of its own
// (startPausingJobManager) with a pause before capture, waiting in its pod as pausedPod
// leaves it.
type pausedJobBuild struct {
	ns, dir, repo string
	work          string // the pod's work directory, as the host sees it
	job           *batchv1.Job
	pod           *corev1.Pod
	proc          *podProcess
	fa            *fcv1.FlashArchive
	argv          []string // status.shell's command in the pod
	root          string   // the build root status.shell names
}

// pauseJobBuild builds archive name from the base that base writes (buildtest.Base or
// BusyboxBase), with limits (nil for none), until it awaits customization; env is added to
// the pod's environment.
func pauseJobBuild(t *testing.T, name string, base func(testing.TB, string) (string, string), limits *fcv1.BuildLimits, env ...string) *pausedJobBuild {
	t.Helper()
	b := &pausedJobBuild{ns: newNamespace(t), dir: podDir(t)}
	src := filepath.Join(b.dir, "sources")
	os.Mkdir(src, 0o755)
	url, dgst := base(t, src)
	b.repo = filepath.Join(b.dir, "repo")
	startPausingJobManager(t, b.ns, b.repo, src)
	fa := buildArchive(b.ns, name, url, dgst, "", nil)
	fa.Labels = map[string]string{jobExecutorLabel: "job"}
	fa.Spec.Source.Build.Pause = fcv1.BuildPauseBeforeCapture
	fa.Spec.Limits = limits
	createAll(t, b.ns, []client.Object{fa})
	b.job, b.pod, b.proc, b.fa = pausedPod(t, b.ns, name, b.dir, env...)
	b.work = filepath.Join(b.dir, "volumes", "work")
	b.argv, b.root = shellIn(t, b.fa.Status.Shell, b.pod, b.work)
	return b
}

// shellIn checks that a Job's status.shell is the kubectl exec line into pod, and returns its
// command in the container and the build root it names.
func shellIn(t *testing.T, shell string, pod *corev1.Pod, workDir string) ([]string, string) {
	t.Helper()
	prefix := fmt.Sprintf("kubectl exec -it -n %s %s -c build -- /flarecast archive shell --root ", pod.Namespace, pod.Name)
	root, ok := strings.CutPrefix(shell, prefix)
	// The fake kubelet gives the pod no mount namespace: its work directory is seen at
	// workDir, where a real pod has /var/lib/flarecast/work.
	if !ok || !strings.HasPrefix(root, workDir+"/build-") || !strings.HasSuffix(root, "/root") || strings.ContainsAny(root, " '\"") {
		t.Fatalf("status.shell %q, want %s<the build root under %s>", shell, prefix, workDir)
	}
	if fi, err := os.Stat(filepath.Join(root, "proc")); err != nil || !fi.IsDir() {
		t.Fatalf("status.shell names %s, which is no build root: %v", root, err)
	}
	_, inPod, _ := strings.Cut(shell, " -- ")
	return strings.Fields(inPod), root
}

func openRepoAt(t *testing.T, dir string) repository.Store {
	t.Helper()
	s, err := repository.Open(context.Background(), dir, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitPod waits, at most d, for the container to end.
func waitPod(t *testing.T, p *podProcess, d time.Duration, what string) (int, []byte) {
	t.Helper()
	type ended struct {
		code int
		msg  []byte
	}
	done := make(chan ended, 1)
	go func() {
		code, msg := p.wait(t)
		done <- ended{code, msg}
	}()
	select {
	case e := <-done:
		return e.code, e.msg
	case <-time.After(d):
		t.Fatalf("the build pod did not end within %s of %s:\n%s", d, what, p.out.String())
	}
	return 0, nil
}

// blobsIn lists the blobs of a directory repository.
func blobsIn(t *testing.T, repo string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(repo, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// archiveEntries reads the headers (and, for the names in want, the content) of the archive
// section of the archive dgst.
func archiveEntries(t *testing.T, repo, dgst string, want ...string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	a := loadArchiveFrom(t, repo, dgst)
	s := openRepoAt(t, repo)
	defer s.Close()
	desc, ok := a.Section(archive.SectionArchive)
	if !ok {
		t.Fatalf("archive %s has no archive section", dgst)
	}
	rc, err := s.Fetch(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := zstd.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	headers, contents := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		headers[name] = h
		for _, w := range want {
			if name == w {
				b, _ := io.ReadAll(tr)
				contents[name] = string(b)
			}
		}
	}
	return headers, contents
}

// A build source paused in the Job executor keeps its pod up with the build root:
// status.shell is the kubectl exec line into that pod, whose flarecast opens a shell in the
// root with the pod's device nodes over the base's stand-ins; the annotation naming the build
// reaches the pod (it has no API token) in the answer to its progress reports, and the pod
// captures the root as the person left it and ends. The test plays the kubelet: the pod's
// command in a user namespace with the container's capabilities, kubectl exec as nsenter into
// that namespace with the same bounding set.
func TestJobExecutorPausesABuildSourceInItsPodUntilAnnotated(t *testing.T) {
	requireUserNamespacedPods(t, "setpriv", "nsenter")
	b := pauseJobBuild(t, "custom", buildtest.Base, nil)
	ns, repo, job, proc, fa := b.ns, b.repo, b.job, b.proc, b.fa
	cond := fa.Status.Conditions[0].Message
	if want := fmt.Sprintf("kubectl annotate -n %s flasharchive custom %s=%s --overwrite", ns, controllers.CustomizedAnnotation, job.Name); !strings.Contains(cond, want) || !strings.Contains(cond, fa.Status.Shell) {
		t.Fatalf("the message does not give the shell and %q: %s", want, cond)
	}

	// kubectl exec: the shell runs in the build root (the Debian base's os-release), where
	// /dev/null is the pod's device node, not the base's stand-in (an empty file that
	// `>/dev/null` would fill, and the archive keep).
	sh := proc.exec(append(b.argv, "--", "/bin/sh", "-c",
		`grep -q bookworm /etc/os-release && test -c /dev/null && echo gone >/dev/null && echo made-in-the-pod >/etc/flarecast-customized`)...)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the shell in the pod: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second) // the pod reports again meanwhile: still paused
	if fa := get(t, ns, "custom", &fcv1.FlashArchive{}); fa.Status.Phase != fcv1.ArchiveAwaitingCustomization || proc.cmd.ProcessState != nil {
		t.Fatalf("without the annotation the build moved on: %s, %v", fa.Status.Phase, fa.Status.Conditions)
	}
	update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "custom")}, func(o client.Object) {
		o.SetAnnotations(map[string]string{controllers.CustomizedAnnotation: job.Name})
	})
	if code, msg := waitPod(t, proc, buildTimeout, "the annotation"); code != 0 {
		t.Fatalf("the resumed build pod exited %d: %s", code, msg)
	}
	setJobStatus(t, get(t, ns, job.Name, &batchv1.Job{}), true)
	fa = waitArchive(t, ns, "custom", fcv1.ArchiveReady, "Built")
	if fa.Status.Shell != "" {
		t.Fatalf("status.shell %q stays after the build", fa.Status.Shell)
	}
	if got := loadArchiveFrom(t, repo, fa.Status.Digest).Config.Inputs[build.InputCustomized]; got != "true" {
		t.Fatalf("%s = %q", build.InputCustomized, got)
	}
	headers, contents := archiveEntries(t, repo, fa.Status.Digest, "etc/flarecast-customized")
	if got := contents["etc/flarecast-customized"]; got != "made-in-the-pod\n" {
		t.Fatalf("the customization in the archive: %q", got)
	}
	if h := headers["dev/null"]; h == nil || h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
		t.Fatalf("dev/null in the archive: %+v", h)
	}
	if _, err := os.Stat(b.root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the build root %s stays after the build: %v", b.root, err)
	}
}

// Deleting an archive whose build waits in a pause deletes its Job; the kubelet then stops the
// pod with SIGTERM, and the build ends within the grace period leaving no build root in the
// pod's work directory, no process, and no blob in the repository.
func TestDeletingAnArchivePausedInAJobLeavesNoRootProcessOrBlob(t *testing.T) {
	requireUserNamespacedPods(t, "setpriv")
	b := pauseJobBuild(t, "doomed", buildtest.BusyboxBase, nil)
	ns, job, proc, work := b.ns, b.job, b.proc, b.work

	if err := k8s.Delete(context.Background(), b.fa); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the paused build's Job and the FlashArchive are gone", func() error {
		for _, o := range []client.Object{&batchv1.Job{}, &fcv1.FlashArchive{}} {
			name := job.Name
			if _, ok := o.(*fcv1.FlashArchive); ok {
				name = "doomed"
			}
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, o); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s: %v", o, name, err)
			}
		}
		return nil
	})
	// The kubelet: SIGTERM, and SIGKILL after the default 30 s grace period.
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, _ := waitPod(t, proc, 30*time.Second, "SIGTERM")
	if code == 0 {
		t.Fatal("the stopped build pod exited 0")
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the pod's work directory holds %v after its build stopped (its root was %s)", left, b.root)
	}
	if err := syscall.Kill(proc.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the pod's process %d: %v", proc.cmd.Process.Pid, err)
	}
	if blobs := blobsIn(t, b.repo); len(blobs) != 0 {
		t.Fatalf("the repository holds %v", blobs)
	}
}

// A job executor without the build-progress endpoint cannot tell a pod to resume: an archive
// that asks for a pause fails PauseNotSupported, saying what is missing, and no Job is made.
func TestAPauseNeedsTheJobExecutorsProgressEndpoint(t *testing.T) {
	ns := newNamespace(t)
	repo := t.TempDir()
	startJobManager(t, ns, repo)
	fa := buildArchive(ns, "paused", "file:///nowhere/base.tar", "sha256:"+strings.Repeat("0", 64), "", nil)
	fa.Labels = map[string]string{jobExecutorLabel: "job"}
	fa.Spec.Source.Build.Pause = fcv1.BuildPauseBeforeCapture
	createAll(t, ns, []client.Object{fa})
	archiveState(t, ns, "paused", fcv1.ArchiveFailed, metav1.ConditionFalse, controllers.ReasonPauseNotSupported,
		"spec.source.build.pause: the job executor pauses a build only with the build-progress endpoint (the manager's --build-progress-url)")
	var jobs batchv1.JobList
	if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil || len(jobs.Items) != 0 {
		t.Fatalf("Jobs %v (%v)", jobs.Items, err)
	}
}

// What a person adds in the shell of a paused build is bounded by maxSize as apt's additions
// are: the root measured while it waits, a root grown past the bound in the pod's shell fails
// the build without waiting for the resume, and the archive is Failed SourceTooLarge naming
// the root's size and the bound (from the pod's termination message), with no build root left
// in the pod's work directory and no blob. (A job-executor manager of its own: the suite's
// local executor may have its slots taken by other tests' builds.)
func TestARootGrownPastMaxSizeDuringThePauseFailsTheArchive(t *testing.T) {
	rootGrownPastMaxSize(t, "grown", false)
}

// A root grown past maxSize in the pod's shell and resumed at once (the annotation, heard by
// the pod through the progress endpoint) fails at the resume rather than being captured: the
// archive is Failed SourceTooLarge naming the root's size and the bound, with no build root in
// the pod's work directory and no blob. The pod's paused root is measured only at the resume
// here (pauseCheckEveryEnv past the test's length): what the test checks is the resume's
// measure, not a watcher that might have noticed first.
func TestARootGrownPastMaxSizeDuringThePauseAndResumedFailsAtTheResume(t *testing.T) {
	rootGrownPastMaxSize(t, "resumed", true)
}

// rootGrownPastMaxSize grows the paused root of archive name past its maxSize in the pod's
// shell, resumes it at once when resume says so, and checks that the build fails and leaves
// nothing: the archive Failed SourceTooLarge naming the root's size and the bound, no build
// root in the pod's work directory, no blob.
func rootGrownPastMaxSize(t *testing.T, name string, resume bool) {
	t.Helper()
	requireUserNamespacedPods(t, "setpriv", "nsenter")
	var env []string
	if resume {
		env = []string{pauseCheckEveryEnv + "=1h"}
	}
	// busybox's 2 MB, not 4 MB more
	b := pauseJobBuild(t, name, buildtest.BusyboxBase, &fcv1.BuildLimits{MaxSize: "4Mi"}, env...)
	ns, repo, work, job, pod, proc := b.ns, b.repo, b.work, b.job, b.pod, b.proc
	sh := proc.exec(append(b.argv, "--", "/bin/sh", "-c", "cat /bin/busybox /bin/busybox > /grown")...)
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the shell in the pod: %v\n%s", err, out)
	}
	var code int
	var msg []byte
	if resume {
		update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name)}, func(o client.Object) {
			o.SetAnnotations(map[string]string{controllers.CustomizedAnnotation: job.Name})
		})
		if code, msg = waitPod(t, proc, buildTimeout, "the annotation"); code == 0 {
			t.Fatal("the build resumed with its root past maxSize succeeded")
		}
	} else if code, msg = waitPod(t, proc, 2*time.Minute, "the root grown past maxSize (no resume)"); code == 0 {
		t.Fatal("the build whose root grew past maxSize succeeded")
	}
	// The kubelet: the termination message into the pod's status, then the Job controller.
	podFailed(t, pod, code, msg)
	setJobStatus(t, get(t, ns, job.Name, &batchv1.Job{}), false)
	fa := waitArchive(t, ns, name, fcv1.ArchiveFailed, build.ReasonSourceTooLarge)
	if m := fa.Status.Conditions[0].Message; !strings.Contains(m, "the build root grew to ") ||
		!strings.Contains(m, " during the customization pause, more than the 4.0 MiB (4194304 bytes) maxSize allows; the build stopped and its root was removed") {
		t.Fatalf("the condition does not name the root's size and the bound: %s", m)
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Fatalf("the pod's work directory holds %v after its build failed", left)
	}
	if blobs := blobsIn(t, repo); len(blobs) != 0 {
		t.Fatalf("the repository holds %v", blobs)
	}
}
