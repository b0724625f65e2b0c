package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
)

// buildTimeout is how long a test waits for a build source: extracting the 726 MB Debian base,
// apt, and packing it again take 20 to 40 s on two busy cores.
const buildTimeout = 4 * time.Minute

// waitArchive waits, longer than archiveState, for a build source's archive to reach phase.
func waitArchive(t *testing.T, ns, name string, phase fcv1.ArchivePhase, reason string) *fcv1.FlashArchive {
	t.Helper()
	var fa *fcv1.FlashArchive
	var last error
	for deadline := time.Now().Add(buildTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		fa = &fcv1.FlashArchive{}
		if last = k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, fa); last != nil {
			continue
		}
		if fa.Status.Phase == fcv1.ArchiveFailed && phase != fcv1.ArchiveFailed {
			t.Fatalf("FlashArchive %s failed: %v", name, fa.Status.Conditions)
		}
		if fa.Status.Phase != phase {
			last = fmt.Errorf("phase %q, want %s (%v)", fa.Status.Phase, phase, fa.Status.Conditions)
			continue
		}
		if last = wantCondition(fa, fa.Status.Conditions, fcv1.ConditionReady, metav1.ConditionFalse, reason, ""); phase == fcv1.ArchiveReady {
			last = wantCondition(fa, fa.Status.Conditions, fcv1.ConditionReady, metav1.ConditionTrue, reason, "")
		}
		if last == nil {
			return fa
		}
	}
	t.Fatalf("FlashArchive %s: %s/%s not reached after %s: %v", name, phase, reason, buildTimeout, last)
	return nil
}

func buildArchive(ns, name, url, dgst string, group string, repos []string) *fcv1.FlashArchive {
	fa := &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveGeneric, Arch: "amd64", OS: &fcv1.OSSpec{Name: "debian", Version: "12"},
		Source: &fcv1.ArchiveSource{Build: &fcv1.BuildSource{
			Base:         fcv1.BuildBase{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}},
			Repositories: repos,
		}},
	}}
	if group != "" {
		fa.Spec.Source.Build.NodesGroupRef = &fcv1.LocalObjectReference{Name: group}
	}
	return fa
}

func loadArchive(t *testing.T, fa *fcv1.FlashArchive) *archive.Archive {
	t.Helper()
	a, err := archive.Load(context.Background(), openRepo(t), fa.Status.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A NodesGroup's package, at the version it names, is installed into the Debian base by the
// build (in the executor), and the archive's config records what dpkg says was installed.
// The archive waits for the group it names first.
func TestABuildSourceInstallsItsGroupsPackagesOnTheDebianBase(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := buildtest.Base(t, t.TempDir())
	repo := buildtest.Repo(t, buildtest.Package{Name: "flarecast-hello", Version: "1.2-3",
		Files: map[string]string{"/usr/share/flarecast-hello/greeting": "hello\n"}})
	createAll(t, ns, []client.Object{buildArchive(ns, "master", url, dgst, "workers", []string{repo})})
	archiveState(t, ns, "master", fcv1.ArchivePending, metav1.ConditionFalse, "NodesGroupNotFound", "spec.source.build.nodesGroupRef: NodesGroup workers is not found")

	g := bareGroup(ns, "workers", "")
	g.Spec.Software.Packages = []fcv1.Package{{Name: "flarecast-hello", Version: "1.2-3"}}
	createAll(t, ns, []client.Object{g})
	fa := waitArchive(t, ns, "master", fcv1.ArchiveReady, "Built")
	a := loadArchive(t, fa)
	var pkgs []build.Installed
	if err := json.Unmarshal([]byte(a.Config.Inputs[build.InputBuildPackages]), &pkgs); err != nil {
		t.Fatalf("%s: %v", build.InputBuildPackages, err)
	}
	var hello *build.Installed
	for i := range pkgs {
		if pkgs[i].Name == "flarecast-hello" {
			hello = &pkgs[i]
		}
	}
	if hello == nil || hello.Version != "1.2-3" || len(pkgs) < 100 {
		t.Fatalf("installed packages recorded (%d): %v", len(pkgs), hello)
	}
	if got := readFile(t, filepath.Join(extracted(t, fa), "usr/share/flarecast-hello/greeting")); got != "hello\n" {
		t.Fatalf("the package's file: %q", got)
	}
}

// With pause: BeforeCapture the build waits in AwaitingCustomization; its status gives the
// shell, which runs in the build root; the annotation naming the build resumes it, and the
// archive holds what the person changed. The build root is gone once the build is over.
func TestABuildSourcePausesForCustomizationUntilAnnotated(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := buildtest.BusyboxBase(t, t.TempDir())
	fa := buildArchive(ns, "custom", url, dgst, "", nil)
	fa.Spec.Source.Build.Pause = fcv1.BuildPauseBeforeCapture
	createAll(t, ns, []client.Object{fa})
	fa = waitArchive(t, ns, "custom", fcv1.ArchiveAwaitingCustomization, "AwaitingCustomization")
	if !strings.HasPrefix(fa.Status.Shell, "flarecast archive shell custom -n "+ns+" --executor-state-dir ") {
		t.Fatalf("status.shell %q", fa.Status.Shell)
	}
	cond := fa.Status.Conditions[0].Message
	i := strings.Index(cond, controllers.CustomizedAnnotation+"=")
	if i < 0 {
		t.Fatalf("the message does not say how to resume: %s", cond)
	}
	job := strings.Fields(cond[i+len(controllers.CustomizedAnnotation)+1:])[0]
	job = strings.TrimSuffix(job, "`")

	// The shell's command runs with the build root as its root (busybox's os-release).
	args := append(strings.Fields(strings.TrimPrefix(fa.Status.Shell, "flarecast ")), "--",
		"/bin/sh", "-c", "test \"$(cat /etc/os-release)\" = ID=busybox && echo made-by-hand > /etc/flarecast-customized && mkdir /etc/ssh && echo key > /etc/ssh/ssh_host_ed25519_key")
	if code := runCLI(args); code != 0 {
		t.Fatalf("flarecast %v: exit %d", args, code)
	}
	// An annotation that names another build does not resume this one.
	update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "custom")}, func(o client.Object) {
		o.SetAnnotations(map[string]string{controllers.CustomizedAnnotation: "an-earlier-build"})
	})
	time.Sleep(3 * time.Second)
	if fa := get(t, ns, "custom", &fcv1.FlashArchive{}); fa.Status.Phase != fcv1.ArchiveAwaitingCustomization {
		t.Fatalf("an annotation naming another build moved the archive to %s: %v", fa.Status.Phase, fa.Status.Conditions)
	}
	update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "custom")}, func(o client.Object) {
		o.SetAnnotations(map[string]string{controllers.CustomizedAnnotation: job})
	})
	fa = waitArchive(t, ns, "custom", fcv1.ArchiveReady, "Built")
	if fa.Status.Shell != "" {
		t.Fatalf("status.shell %q stays after the build", fa.Status.Shell)
	}
	inputs := loadArchive(t, fa).Config.Inputs
	if got := inputs[build.InputCustomized]; got != "true" {
		t.Fatalf("%s = %q", build.InputCustomized, got)
	}
	// The host key the person made is named as what keeps two builds from one digest.
	if got := inputs[build.InputNotReproducible]; !strings.Contains(got, `"path":"/etc/ssh/ssh_host_ed25519_key"`) {
		t.Fatalf("%s = %q", build.InputNotReproducible, got)
	}
	if got := readFile(t, filepath.Join(extracted(t, fa), "etc/flarecast-customized")); got != "made-by-hand\n" {
		t.Fatalf("the customization: %q", got)
	}
	roots, _ := filepath.Glob(filepath.Join(buildsDir, ns, "*", "work", "*", "root"))
	if len(roots) != 0 {
		t.Fatalf("build roots left: %v", roots)
	}
}
