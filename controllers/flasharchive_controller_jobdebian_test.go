package controllers_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
)

// startDebianJobManager runs a job-executor manager of its own (the suite's local executor may
// have its slots taken by other tests' builds) with its repository under dir, which build
// sources may run in; no file:// source is allowed, the mirror being a loopback URL.
func startDebianJobManager(t *testing.T, ns, dir string) string {
	t.Helper()
	repo := filepath.Join(dir, "repo")
	startJobManagerFor(t, ns, controllers.ArchiveOptions{Repository: repo, Executor: controllers.ExecutorJob,
		Job: executor.JobOptions{Image: "registry.example/flarecast:test", BuildImage: "registry.example/flarecast-builder:test",
			RepositoryClaim: "archives", RepositoryPath: repo},
		Limits: build.Limits{AllowBuildSources: true}})
	return repo
}

// debianArchive is a FlashArchive built by the job executor on a debian base: suite from
// mirror, mmdebstrap's default variant (minbase), no group's software.
func debianArchive(ns, name, suite, mirror string) *fcv1.FlashArchive {
	fa := buildArchive(ns, name, "", "", "", nil)
	fa.Spec.Source.Build.Base = fcv1.BuildBase{Debian: &fcv1.DebianBase{Suite: suite, Mirror: mirror}}
	fa.Labels = map[string]string{jobExecutorLabel: "job"}
	return fa
}

// mmdebstrapNodes are the device nodes mmdebstrap makes in /dev when it may (its @devfiles;
// internal/executor/build's TestMmdebstrapDevIsTheHostsMmdebstrap keeps the executor's copy of
// that list equal to the host's mmdebstrap): character devices, 0666, owned by root.
var mmdebstrapNodes = map[string][2]int64{
	"dev/console": {5, 1}, "dev/full": {1, 7}, "dev/null": {1, 3}, "dev/ptmx": {5, 2},
	"dev/random": {1, 8}, "dev/tty": {5, 0}, "dev/urandom": {1, 9}, "dev/zero": {1, 5},
}

// A debian base is mmdebstrap itself run in the build pod, as root of a user namespace of its
// own (docs/security.md), where it may not make device nodes: the test plays the kubelet as
// TestJobExecutorBuildsABuildSourceInAUserNamespacedPod does, against the local Debian mirror
// (hack/debian-mirror.sh) on a loopback server, with a NodesGroup's package from an apt
// repository installed on that base; the archive becomes Ready with the same digest as the
// same request built as the host's root (where mmdebstrap makes /dev itself), its /dev holding
// the device nodes mmdebstrap makes, the package in it, and no build root left in the pod.
func TestJobExecutorBuildsADebianBaseInAUserNamespacedPod(t *testing.T) {
	requireUserNamespacedPods(t, "setpriv")
	mirror := buildtest.Mirror(t)
	ns := newNamespace(t)
	dir := podDir(t)
	repo := startDebianJobManager(t, ns, dir)
	aptRepo := buildtest.Repo(t, buildtest.Package{Name: "flarecast-hello", Version: "1.2-3",
		Files: map[string]string{"/usr/share/flarecast-hello/greeting": "hello\n"}})
	fa := debianArchive(ns, "debian", buildtest.MirrorSuite, mirror)
	fa.Spec.Source.Build.NodesGroupRef = &fcv1.LocalObjectReference{Name: "workers"}
	fa.Spec.Source.Build.Repositories = []string{aptRepo}
	g := bareGroup(ns, "workers", "")
	g.Spec.Software.Packages = []fcv1.Package{{Name: "flarecast-hello", Version: "1.2-3"}}
	createAll(t, ns, []client.Object{g, fa})

	job := buildJob(t, ns, "debian")
	_, _, wantHostUsers := executor.BuildPodSecurity(executor.BuildPodUserNamespace)
	if hu := job.Spec.Template.Spec.HostUsers; !equality.Semantic.DeepEqual(hu, wantHostUsers) || hu == nil || *hu {
		t.Fatalf("the debian base's pod has hostUsers %v, want a user namespace of its own", hu)
	}
	var req build.Request // read now: the Secret goes once the result is recorded
	if err := json.Unmarshal(get(t, ns, job.Name, &corev1.Secret{}).Data["request.json"], &req); err != nil {
		t.Fatal(err)
	}
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptrTo(metav1.Now())}
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a build stuck in the pod fails this test, not the package's timeout.
	if code, msg := waitPod(t, startPod(t, job, dir), buildTimeout, "the debian base's build"); code != 0 {
		t.Fatalf("the build pod exited %d: %s", code, msg)
	}
	setJobStatus(t, get(t, ns, job.Name, &batchv1.Job{}), true)
	fa = archiveState(t, ns, "debian", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	if left, _ := os.ReadDir(filepath.Join(dir, "volumes", "work")); len(left) != 0 {
		t.Fatalf("the pod's work directory holds %v: a build root was left", left)
	}
	a := loadArchiveFrom(t, repo, fa.Status.Digest)
	if got, want := a.Config.Inputs[build.InputBuildBase], "debian "+buildtest.MirrorSuite+" "+mirror; got != want {
		t.Fatalf("the archive's base input is %q, want %q", got, want)
	}
	if pkgs := a.Config.Inputs[build.InputBuildPackages]; !strings.Contains(pkgs, `{"name":"apt",`) || !strings.Contains(pkgs, `{"name":"dpkg",`) ||
		!strings.Contains(pkgs, `{"name":"flarecast-hello","version":"1.2-3","arch":"all"}`) {
		t.Fatalf("minbase's packages and the group's not recorded: %s", pkgs)
	}
	headers, contents := archiveEntries(t, repo, fa.Status.Digest, "usr/share/flarecast-hello/greeting")
	if got := contents["usr/share/flarecast-hello/greeting"]; got != "hello\n" {
		t.Errorf("the group's package's file holds %q", got)
	}
	for path, dev := range mmdebstrapNodes {
		h := headers[path]
		if h == nil || h.Typeflag != tar.TypeChar || h.Devmajor != dev[0] || h.Devminor != dev[1] || h.Mode&0o7777 != 0o666 || h.Uid != 0 || h.Gid != 0 {
			got := "nothing"
			if h != nil {
				got = fmt.Sprintf("type %c, %d,%d, mode %04o, owner %d:%d", h.Typeflag, h.Devmajor, h.Devminor, h.Mode&0o7777, h.Uid, h.Gid)
			}
			t.Errorf("the archive's /%s is %s, want the character device %d,%d, 0666, owned by root", path, got, dev[0], dev[1])
		}
	}

	if res := buildAsHostRoot(t, req); string(res.Digest) != fa.Status.Digest {
		t.Fatalf("built in a user-namespaced pod: %s; as the host's root: %s", fa.Status.Digest, res.Digest)
	}
}

// A debian base whose suite the mirror does not have fails in its pod: the archive is Failed
// with the pod's reason, its condition naming the suite and the mirror, and the repository
// holds nothing. The mirror is the local one of the test above (mmdebstrap stops at apt's
// update, in seconds).
func TestJobExecutorFailsADebianBaseWhoseSuiteTheMirrorLacks(t *testing.T) {
	requireUserNamespacedPods(t, "setpriv")
	mirror := buildtest.Mirror(t)
	ns := newNamespace(t)
	dir := podDir(t)
	repo := startDebianJobManager(t, ns, dir)
	createAll(t, ns, []client.Object{debianArchive(ns, "nosuite", "trixie", mirror)})

	job := buildJob(t, ns, "nosuite")
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptrTo(metav1.Now())}
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	code, msg := waitPod(t, startPod(t, job, dir), buildTimeout, "the build of a suite the mirror lacks")
	if code == 0 {
		t.Fatal("the build of a suite the mirror lacks succeeded")
	}
	// The kubelet: the termination message into the pod's status, then the Job controller.
	podFailed(t, createJobPod(t, job, "n5s8d"), code, msg)
	setJobStatus(t, get(t, ns, job.Name, &batchv1.Job{}), false)
	fa := archiveState(t, ns, "nosuite", fcv1.ArchiveFailed, metav1.ConditionFalse, build.ReasonInstallFailed,
		"mmdebstrap trixie from "+mirror+" failed")
	// The condition's message (mmdebstrap's last words) is longer than the API server takes in
	// an event's note: the event is there all the same, with the start and the end of it.
	apt := "E: The repository '" + mirror + " trixie Release' does not have a Release file."
	if m := fa.Status.Conditions[0].Message; len(m) <= 1024 || !strings.Contains(m, apt) {
		t.Fatalf("the condition's message (%d bytes) is not the long one this test is about: %s", len(m), m)
	}
	eventually(t, "the Warning event of the failure", func() error {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "nosuite" && e.Reason == build.ReasonInstallFailed && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Note, "mmdebstrap trixie from "+mirror+" failed") && strings.Contains(e.Note, "E: mmdebstrap failed to run") {
				return nil
			}
		}
		return fmt.Errorf("no InstallFailed event for nosuite naming the mirror among %d events", len(evs.Items))
	})
	if left, _ := os.ReadDir(filepath.Join(dir, "volumes", "work")); len(left) != 0 {
		t.Fatalf("the pod's work directory holds %v: a build root was left", left)
	}
	if blobs := blobsIn(t, repo); len(blobs) != 0 {
		t.Fatalf("the repository holds %v", blobs)
	}
}
