package controllers_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/image/imagetest"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
)

// tinyRootfs writes a plain tar of a three-entry root file system and returns its file://
// URL and digest.
func tinyRootfs(t *testing.T) (string, string) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir})
	for name, body := range map[string]string{"etc/os-release": "ID=tiny\n"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + p, string(digest.FromBytes(b.Bytes()))
}

func genericArchive(ns, name, url, dgst string) *fcv1.FlashArchive {
	return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveGeneric, Arch: "amd64", OS: &fcv1.OSSpec{Name: "tiny", Version: "1"},
		Source: &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}},
	}}
}

// archiveState waits for a FlashArchive's Ready condition to have the status and reason
// given, for its current generation, and returns the archive.
func archiveState(t *testing.T, ns, name string, phase fcv1.ArchivePhase, status metav1.ConditionStatus, reason, contains string) *fcv1.FlashArchive {
	t.Helper()
	var fa *fcv1.FlashArchive
	eventually(t, fmt.Sprintf("FlashArchive %s %s/%s", name, phase, reason), func() error {
		fa = &fcv1.FlashArchive{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, fa); err != nil {
			return err
		}
		if fa.Status.Phase != phase {
			return fmt.Errorf("phase %q, want %s (%v)", fa.Status.Phase, phase, fa.Status.Conditions)
		}
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionReady, status, reason, contains)
	})
	return fa
}

func openRepo(t *testing.T) repository.Store {
	t.Helper()
	s, err := repository.Open(context.Background(), repoDir, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// extracted extracts the archive of a FlashArchive from the suite's repository.
func extracted(t *testing.T, fa *fcv1.FlashArchive) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := archive.Extract(context.Background(), openRepo(t), fa.Status.Digest, dir, archive.ExtractOptions{Rootless: true}); err != nil {
		t.Fatalf("extract %s: %v", fa.Name, err)
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGenericFromFileRootfsIsBuiltIntoTheRepository(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, dgst)})
	fa := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "built sha256:")

	desc, err := openRepo(t).Resolve(context.Background(), ns+".base")
	if err != nil {
		t.Fatalf("the repository has no %s.base: %v", ns, err)
	}
	st := fa.Status
	if string(desc.Digest) != st.Digest || st.InputsDigest == "" || st.ObservedGeneration != fa.Generation ||
		st.Location != repoDir+":"+ns+".base" || len(st.Sections) != 2 || st.Sections[1].Name != "archive" ||
		st.Size != st.Sections[0].Size+st.Sections[1].Size {
		t.Fatalf("status %+v, repository has %s", st, desc.Digest)
	}
	if got := readFile(t, filepath.Join(extracted(t, fa), "etc/os-release")); got != "ID=tiny\n" {
		t.Fatalf("os-release %q", got)
	}
	if !controllerHasFinalizers(fa, "flarecast.io/archive", "flarecast.io/in-use") {
		t.Fatalf("finalizers %v", fa.Finalizers)
	}
}

func controllerHasFinalizers(o client.Object, want ...string) bool {
	have := map[string]bool{}
	for _, f := range o.GetFinalizers() {
		have[f] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func TestARootfsWithAnotherDigestFailsTheBuild(t *testing.T) {
	ns := newNamespace(t)
	url, _ := tinyRootfs(t)
	wrong := string(digest.FromString("not this tarball"))
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, wrong)})
	archiveState(t, ns, "base", fcv1.ArchiveFailed, metav1.ConditionFalse, "DigestMismatch", "spec.source.rootfs.digest says "+wrong)
	if _, err := openRepo(t).Resolve(context.Background(), ns+".base"); err == nil {
		t.Fatal("a refused rootfs was tagged in the repository")
	}
	// The failed build's log stays with the executor until the archive goes.
	logs, _ := filepath.Glob(filepath.Join(buildsDir, ns, "base-build-*", "build.log"))
	if len(logs) != 1 || !strings.Contains(readFile(t, logs[0]), "spec.source.rootfs.digest says") {
		t.Fatalf("build logs %v", logs)
	}
	if err := k8s.Delete(context.Background(), &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed build forgotten with its archive", func() error {
		if left, _ := filepath.Glob(filepath.Join(buildsDir, ns, "*")); len(left) > 0 {
			return fmt.Errorf("left in the state directory: %v", left)
		}
		return nil
	})
}

func TestAFailedBuildRunsAgainWhenAskedTo(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	path := strings.TrimPrefix(url, "file://")
	moved := path + ".away"
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, dgst)})
	archiveState(t, ns, "base", fcv1.ArchiveFailed, metav1.ConditionFalse, "SourceNotAllowed", "not a readable regular file under the directories")
	// The tarball comes back; the inputs are the same, so nothing runs until asked.
	if err := os.Rename(moved, path); err != nil {
		t.Fatal(err)
	}
	update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}, func(o client.Object) {
		o.SetAnnotations(map[string]string{"flarecast.io/rebuild": "1"})
	})
	archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
}

func TestTheRepositoryIsKeptInStepWithTheStatus(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, dgst)})
	built := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "").Status.Digest
	ctx, tag := context.Background(), ns+".base"
	touch := func(v string) {
		update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}, func(o client.Object) {
			o.SetAnnotations(map[string]string{"example.org/touched": v})
		})
	}
	tagged := func() error {
		desc, err := openRepo(t).Resolve(ctx, tag)
		if err != nil {
			return err
		}
		if string(desc.Digest) != built {
			return fmt.Errorf("%s is %s, the status says %s", tag, desc.Digest, built)
		}
		return nil
	}

	// Someone untags the archive: the next reconcile names it again.
	if err := openRepo(t).Untag(ctx, tag); err != nil {
		t.Fatal(err)
	}
	touch("1")
	eventually(t, "the name restored", tagged)

	// The repository loses the manifest: the archive is built again, to the same digest.
	if err := openRepo(t).Untag(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(repoDir, "blobs", "sha256", digest.Digest(built).Encoded())); err != nil {
		t.Fatal(err)
	}
	touch("2")
	eventually(t, "the archive rebuilt", tagged)
	if fa := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", ""); fa.Status.Digest != built {
		t.Fatalf("rebuilt to %s, was %s", fa.Status.Digest, built)
	}
}

// The suite's manager allows sources from 127.0.0.1 only, as an operator would limit a
// shared cluster's: a Docker Hub image is refused before any connection.
func TestAnImageFromAHostTheManagerDoesNotAllowIsRefused(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, []client.Object{&fcv1.FlashArchive{ObjectMeta: objMeta(ns, "debian12-base"), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveGeneric, Arch: "amd64", Source: &fcv1.ArchiveSource{Image: &fcv1.ImageSource{Ref: "docker.io/library/debian:12"}}}}})
	archiveState(t, ns, "debian12-base", fcv1.ArchiveFailed, metav1.ConditionFalse, "SourceNotAllowed",
		"image docker.io/library/debian:12: host docker.io is not one this manager allows http(s) sources from (--allow-source-host)")
}

func TestAGenericArchiveIsBuiltFromAnImage(t *testing.T) {
	ns := newNamespace(t)
	gz, diffID := imagetest.Layer(t, []imagetest.File{{Name: "etc/os-release", Body: "ID=tiny\n"}, {Name: "usr/bin/hello", Body: "#!/bin/sh\necho hi\n", Mode: 0o755}})
	layout := imagetest.Layout(t, "amd64", "v1", gz, diffID)
	image := func(name string) *fcv1.FlashArchive {
		return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name), Spec: fcv1.FlashArchiveSpec{
			Type: fcv1.ArchiveGeneric, Arch: "amd64", Source: &fcv1.ArchiveSource{Image: &fcv1.ImageSource{Ref: "oci:" + layout + ":v1"}}}}
	}
	createAll(t, ns, []client.Object{image("node"), image("node-again")})
	a := archiveState(t, ns, "node", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	b := archiveState(t, ns, "node-again", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	// One image, one binary section, whichever archive it was built for.
	if a.Status.Sections[1].Digest != b.Status.Sections[1].Digest {
		t.Fatalf("binary sections of one image: %s and %s", a.Status.Sections[1].Digest, b.Status.Sections[1].Digest)
	}
	root := extracted(t, a)
	if got := readFile(t, filepath.Join(root, "usr/bin/hello")); got != "#!/bin/sh\necho hi\n" {
		t.Fatalf("usr/bin/hello: %q", got)
	}
}

func configured(ns, name, base string, conf *fcv1.Configuration) *fcv1.FlashArchive {
	return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveConfigured, BaseRef: &fcv1.LocalObjectReference{Name: base}, Configuration: conf,
	}}
}

func TestConfiguredWaitsForItsBaseAndTakesConfigMapContent(t *testing.T) {
	ns := newNamespace(t)
	script := "#!/bin/sh\necho configured\n"
	conf := &fcv1.Configuration{
		Files: []fcv1.ConfigFile{{Path: "/etc/app.conf", Mode: 0o640,
			Source: fcv1.ConfigSource{ConfigMapKeyRef: &fcv1.KeyReference{Name: "app", Key: "app.conf"}}}},
		Scripts: []fcv1.Script{
			{Name: "setup.sh", Stage: fcv1.StageBeforeServices, Order: 10, Source: fcv1.ConfigSource{Inline: &script}},
			{Name: "keys.sh", Stage: fcv1.StageFirstBoot, Source: fcv1.ConfigSource{SecretKeyRef: &fcv1.KeyReference{Name: "keys", Key: "install"}}},
		},
	}
	createAll(t, ns, []client.Object{
		&corev1.Secret{ObjectMeta: objMeta(ns, "keys"), Data: map[string][]byte{"install": []byte("#!/bin/sh\necho secret\n")}},
		configured(ns, "conf", "base", conf),
	})
	archiveState(t, ns, "conf", fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotFound", "FlashArchive base is not found")

	// A base that is not built keeps it waiting, with the base named.
	createAll(t, ns, []client.Object{&fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base"), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveGeneric, Arch: "amd64", Source: &fcv1.ArchiveSource{Capture: &fcv1.CaptureSource{NodesGroupRef: fcv1.LocalObjectReference{Name: "g"}, Node: "n1"}}}}})
	archiveState(t, ns, "conf", fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotReady", "waiting for base FlashArchive base to be Ready (it is Pending: NodesGroupNotFound)")

	// The base gets a source this version builds: the configured archive follows through the
	// watch on its base, and now misses its ConfigMap.
	url, dgst := tinyRootfs(t)
	update(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}, func(o client.Object) {
		o.(*fcv1.FlashArchive).Spec.Source = &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}}
	})
	base := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	archiveState(t, ns, "conf", fcv1.ArchivePending, metav1.ConditionFalse, "ConfigurationMissing",
		"spec.configuration.files[/etc/app.conf]: ConfigMap app is not found")
	cm := &corev1.ConfigMap{ObjectMeta: objMeta(ns, "app"), Data: map[string]string{"other": "x"}}
	createAll(t, ns, []client.Object{cm})
	archiveState(t, ns, "conf", fcv1.ArchivePending, metav1.ConditionFalse, "ConfigurationMissing", "ConfigMap app has no key app.conf")
	update(t, cm, func(o client.Object) { o.(*corev1.ConfigMap).Data["app.conf"] = "answer=42\n" })

	fa := archiveState(t, ns, "conf", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	if fa.Status.BaseDigest != base.Status.Digest || fa.Status.Sections[1].Digest != base.Status.Sections[1].Digest {
		t.Fatalf("configured status %+v does not share the base's binary section %+v", fa.Status, base.Status)
	}
	root := extracted(t, fa)
	if got := readFile(t, filepath.Join(root, "etc/app.conf")); got != "answer=42\n" {
		t.Fatalf("app.conf %q", got)
	}
	if got := readFile(t, filepath.Join(root, archive.ConfigurationDir, "scripts/setup.sh")); got != script {
		t.Fatalf("setup.sh %q", got)
	}
	if got := readFile(t, filepath.Join(root, archive.ConfigurationDir, "scripts/keys.sh")); got != "#!/bin/sh\necho secret\n" {
		t.Fatalf("keys.sh from the Secret: %q", got)
	}
}

func TestDeletionIsHeldWhileADerivedArchiveExistsThenUntags(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, dgst), configured(ns, "conf", "base", nil)})
	archiveState(t, ns, "conf", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	ctx := context.Background()
	if err := k8s.Delete(ctx, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "base held", func() error {
		fa := get(t, ns, "base", &fcv1.FlashArchive{})
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, "DeletionBlocked",
			"deletion waits: FlashArchive/conf still references this FlashArchive; remove spec.baseRef (FlashArchive) there first")
	})
	if _, err := openRepo(t).Resolve(ctx, ns+".base"); err != nil {
		t.Fatalf("a held archive was untagged: %v", err)
	}
	if err := k8s.Delete(ctx, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "conf")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both archives gone", func() error {
		for _, n := range []string{"conf", "base"} {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, &fcv1.FlashArchive{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%s: %v", n, err)
			}
		}
		return nil
	})
	for _, tag := range []string{ns + ".base", ns + ".conf"} {
		if _, err := openRepo(t).Resolve(ctx, tag); err == nil {
			t.Errorf("%s is still tagged after its FlashArchive was deleted", tag)
		}
	}
}

// sampleSiteBuildable is the sample site with its generic archive built from a tiny rootfs
// instead of a container image, which this version does not build.
func sampleSiteBuildable(t *testing.T, ns string) {
	t.Helper()
	url, dgst := tinyRootfs(t)
	var objs []client.Object
	for _, o := range readManifests(t, sampleSite...) {
		if fa, ok := o.(*fcv1.FlashArchive); ok && fa.Name == "debian12-base" {
			fa.Spec.Source = &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}}
		}
		objs = append(objs, o)
	}
	createAll(t, ns, objs)
}

var sampleGroups = []string{"dataless", "diskless", "masters"}

func TestDeployablesAreMadeForTheSampleGroupsAndFollowTheNetwork(t *testing.T) {
	ns := newNamespace(t)
	sampleSiteBuildable(t, ns)
	digests := map[string]string{}
	for _, g := range sampleGroups {
		fa := archiveState(t, ns, "edge-"+g, fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
		if fa.Spec.Type != fcv1.ArchiveDeployable || fa.Labels["flarecast.io/cluster"] != "edge" || fa.Labels["flarecast.io/nodes-group"] != g ||
			len(fa.OwnerReferences) != 1 || fa.OwnerReferences[0].Kind != "NodesGroup" || fa.OwnerReferences[0].Name != g {
			t.Fatalf("deployable %s: %+v %+v", fa.Name, fa.ObjectMeta, fa.Spec)
		}
		digests[g] = fa.Status.Digest
	}
	masters := get(t, ns, "edge-masters", &fcv1.FlashArchive{})
	root := extracted(t, masters)
	golden, err := os.ReadFile(filepath.Join("..", "internal", "render", "testdata", "edge-cmm-nodes.conf.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(root, "etc/flarecast/cmm/nodes.conf")); got != string(golden) {
		t.Fatalf("cmm nodes.conf in the masters' deployable:\n%s\nwant (internal/render golden):\n%s", got, golden)
	}
	// The group's own configuration travels in its deployable.
	if got := readFile(t, filepath.Join(root, "etc/motd")); got != "edge cluster master-eligible node\n" {
		t.Fatalf("motd %q", got)
	}
	if load := readFile(t, filepath.Join(root, archive.ClusterDir, "software-load.json")); !strings.Contains(load, `"cluster": "edge"`) {
		t.Fatalf("software-load.json %s", load)
	}
	// Each node of the group finds its install plan in the cluster section, as internal/render
	// renders it from the sample (its golden files, in this test's namespace); the other
	// groups' plans are in their own deployables.
	for _, node := range []string{"m1", "m2"} {
		var got, want installplan.Plan
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(root, installplan.PlanDir, node+".json"))), &got); err != nil {
			t.Fatalf("plan of %s: %v", node, err)
		}
		b, err := os.ReadFile(filepath.Join("..", "internal", "render", "testdata", "plans", node+".json.golden"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		want.Namespace = ns
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("plan of %s in the masters' deployable:\n%+v\nwant (internal/render golden):\n%+v", node, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, installplan.PlanDir, "dl3.json")); !os.IsNotExist(err) {
		t.Fatalf("the masters' deployable holds dl3's plan: %v", err)
	}
	if plan := readFile(t, filepath.Join(extracted(t, get(t, ns, "edge-diskless", &fcv1.FlashArchive{})), installplan.PlanDir, "n5.json")); !strings.Contains(plan, `"root": "NFS"`) {
		t.Fatalf("n5's plan in the diskless deployable: %s", plan)
	}

	var descriptor string
	eventually(t, "the cluster's software load", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		if err := wantCondition(cl, cl.Status.Conditions, fcv1.ConditionArchivesReady, metav1.ConditionTrue, "ArchivesBuilt", ""); err != nil {
			return err
		}
		swl := cl.Status.SoftwareLoad
		if swl == nil || !strings.HasPrefix(swl.DescriptorDigest, "sha256:") || len(swl.Archives) != 3 {
			return fmt.Errorf("softwareLoad %+v", swl)
		}
		for _, a := range swl.Archives {
			if a.FlashArchive != "edge-"+a.NodesGroup || a.Digest != digests[a.NodesGroup] {
				return fmt.Errorf("softwareLoad entry %+v, want digest %s", a, digests[a.NodesGroup])
			}
		}
		descriptor = swl.DescriptorDigest
		return nil
	})

	// m1 gets another external address: every deployable's node table changes, so each is
	// built again from new inputs, and the Cluster follows.
	before := get(t, ns, "edge-masters", &fcv1.FlashArchive{}).Status.InputsDigest
	update(t, &fcv1.Network{ObjectMeta: objMeta(ns, "edge-net")}, func(o client.Object) {
		n := o.(*fcv1.Network)
		for i := range n.Spec.Addresses {
			if n.Spec.Addresses[i].Node == "m1" {
				n.Spec.Addresses[i].IP = "198.19.100.11"
			}
		}
	})
	eventually(t, "deployables rebuilt from the new model", func() error {
		for _, g := range sampleGroups {
			fa := get(t, ns, "edge-"+g, &fcv1.FlashArchive{})
			if fa.Status.Phase != fcv1.ArchiveReady || fa.Status.Digest == digests[g] {
				return fmt.Errorf("%s: %s %s", fa.Name, fa.Status.Phase, fa.Status.Digest)
			}
		}
		return nil
	})
	after := get(t, ns, "edge-masters", &fcv1.FlashArchive{})
	if after.Status.InputsDigest == before {
		t.Fatal("the inputs digest did not change with the model")
	}
	if got := readFile(t, filepath.Join(extracted(t, after), archive.ClusterDir, "cluster.json")); !strings.Contains(got, "198.19.100.11") {
		t.Fatalf("cluster.json lacks the new address: %s", got)
	}
	if got := readFile(t, filepath.Join(extracted(t, after), installplan.PlanDir, "m1.json")); !strings.Contains(got, `"address": "198.19.100.11/16"`) {
		t.Fatalf("m1's plan lacks its new address: %s", got)
	}
	eventually(t, "the cluster's software load follows", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		for _, a := range cl.Status.SoftwareLoad.Archives {
			if want := get(t, ns, a.FlashArchive, &fcv1.FlashArchive{}).Status.Digest; a.Digest != want {
				return fmt.Errorf("%s: %s, archive is %s", a.NodesGroup, a.Digest, want)
			}
		}
		if !meta.IsStatusConditionTrue(cl.Status.Conditions, fcv1.ConditionArchivesReady) {
			return fmt.Errorf("ArchivesReady is not True: %v", cl.Status.Conditions)
		}
		// The descriptor names archives and nodes, not addresses: it stays.
		if cl.Status.SoftwareLoad.DescriptorDigest != descriptor {
			return fmt.Errorf("descriptor %s, was %s", cl.Status.SoftwareLoad.DescriptorDigest, descriptor)
		}
		return nil
	})
}

func TestDeployablesWaitForTheModelAndTheBase(t *testing.T) {
	ns := newNamespace(t)
	// The sample site without its Network: the model is partial, no deployable is made.
	var objs []client.Object
	for _, o := range readManifests(t, sampleSite...) {
		if _, ok := o.(*fcv1.Network); !ok {
			objs = append(objs, o)
		}
	}
	createAll(t, ns, objs)
	eventually(t, "cluster incomplete, archives not ready", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionArchivesReady, metav1.ConditionFalse, "ModelNotReady", "complete")
	})
	var list fcv1.FlashArchiveList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("archives before the model is complete: %d (%v)", len(list.Items), err)
	}
	// The Network arrives: the deployables are made, and wait for the image-sourced base.
	createAll(t, ns, readManifests(t, "config/samples/network.yaml"))
	archiveState(t, ns, "edge-masters", fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotReady", "debian12-base")
	eventually(t, "cluster names the base it waits for", func() error {
		cl := get(t, ns, "edge", &fcv1.Cluster{})
		return wantCondition(cl, cl.Status.Conditions, fcv1.ConditionArchivesReady, metav1.ConditionFalse, "BaseNotReady", "NodesGroup dataless")
	})
}

func TestFoundationServiceTemplatesFailClearlyAndComeFromConfigMaps(t *testing.T) {
	ns := newNamespace(t)
	sampleSiteBuildable(t, ns)
	archiveState(t, ns, "edge-masters", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")

	setTemplate := func(src fcv1.ConfigSource) {
		update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}, func(o client.Object) {
			cl := o.(*fcv1.Cluster)
			for i := range cl.Spec.FoundationServices {
				if cl.Spec.FoundationServices[i].Name == "cmm" {
					cl.Spec.FoundationServices[i].Templates[0].Source = src
				}
			}
		})
	}
	typo := "# {{ .Cluster.Nmae }}\n"
	setTemplate(fcv1.ConfigSource{Inline: &typo})
	archiveState(t, ns, "edge-masters", fcv1.ArchiveFailed, metav1.ConditionFalse, "TemplateFailed",
		"foundation service cmm: render /etc/flarecast/cmm/nodes.conf")

	// The template moves to a ConfigMap, created after the Cluster names it.
	setTemplate(fcv1.ConfigSource{ConfigMapKeyRef: &fcv1.KeyReference{Name: "cmm", Key: "nodes.conf"}})
	archiveState(t, ns, "edge-masters", fcv1.ArchivePending, metav1.ConditionFalse, "ConfigurationMissing",
		"Cluster edge spec.foundationServices[cmm].templates[/etc/flarecast/cmm/nodes.conf]: ConfigMap cmm is not found")
	createAll(t, ns, []client.Object{&corev1.ConfigMap{ObjectMeta: objMeta(ns, "cmm"),
		Data: map[string]string{"nodes.conf": "{{ range .MasterEligible }}{{ .Name }} {{ end }}in {{ .Cluster.Name }}\n"}}})
	fa := archiveState(t, ns, "edge-masters", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	if got := readFile(t, filepath.Join(extracted(t, fa), "etc/flarecast/cmm/nodes.conf")); got != "m1 m2 in edge\n" {
		t.Fatalf("nodes.conf from the ConfigMap: %q", got)
	}
}

func TestADeployableGoesWhenItsGroupMovesToAnotherCluster(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	archiveState(t, ns, "edge-dataless", fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotReady", "debian12-base")
	// The group now belongs to a cluster that does not exist yet: the deployable made for
	// it as part of edge is no longer the group's, and must not linger as an orphan that
	// waits for a group edge no longer has.
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "dataless")}, func(o client.Object) {
		o.(*fcv1.NodesGroup).Spec.ClusterRef.Name = "edge-b"
	})
	eventually(t, "the deployable made for edge goes", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "edge-dataless"}, &fcv1.FlashArchive{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("FlashArchive edge-dataless still exists (%v)", err)
	})
	// The other groups keep theirs.
	get(t, ns, "edge-masters", &fcv1.FlashArchive{})
}

func TestABaseHeldByDeployablesSaysToClearTheGroupsArchiveRef(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	archiveState(t, ns, "edge-masters", fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotReady", "debian12-base")
	// A finalizer holds only once the controller has put it there.
	eventually(t, "base in use", func() error {
		fa := get(t, ns, "debian12-base", &fcv1.FlashArchive{})
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonReferenced, "FlashArchive/edge-masters")
	})
	if err := k8s.Delete(context.Background(), &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "debian12-base")}); err != nil {
		t.Fatal(err)
	}
	// The controller writes a deployable's baseRef from its group: clearing it there would be
	// undone, so the message must send the reader to the group.
	eventually(t, "deletion blocked, naming the field to clear", func() error {
		fa := get(t, ns, "debian12-base", &fcv1.FlashArchive{})
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonDeletionBlocked, "spec.archiveRef (NodesGroup)")
	})
}

func TestADeployableOfAnotherArchThanItsGroupFails(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	var objs []client.Object
	for _, o := range readManifests(t, sampleSite...) {
		if fa, ok := o.(*fcv1.FlashArchive); ok && fa.Name == "debian12-base" {
			fa.Spec.Source = &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}}
			fa.Spec.Arch = "arm64" // the groups run amd64 nodes
		}
		objs = append(objs, o)
	}
	createAll(t, ns, objs)
	archiveState(t, ns, "debian12-base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	archiveState(t, ns, "edge-masters", fcv1.ArchiveFailed, metav1.ConditionFalse, "ArchMismatch", "spec.archiveRef")
}

// bareGroup is a NodesGroup with only what admission requires, naming archive and a Cluster
// that does not exist (so no deployable is made from it).
func bareGroup(ns, name, archive string) *fcv1.NodesGroup {
	g := &fcv1.NodesGroup{ObjectMeta: objMeta(ns, name), Spec: fcv1.NodesGroupSpec{
		ClusterRef: fcv1.LocalObjectReference{Name: "nowhere"},
		Role:       fcv1.RoleNonMasterEligible, NodeType: fcv1.NodeTypeDiskfull,
		OS: fcv1.OSSpec{Name: "debian", Version: "12"}, Arch: "amd64",
	}}
	if archive != "" {
		g.Spec.ArchiveRef = &fcv1.LocalObjectReference{Name: archive}
	}
	return g
}

func TestAnArchiveANodesGroupNamesIsInUseAndHeldUntilTheGroupLetsGo(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{genericArchive(ns, "base", url, dgst), bareGroup(ns, "workers", "base")})
	eventually(t, "base in use by the group", func() error {
		fa := get(t, ns, "base", &fcv1.FlashArchive{})
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonReferenced, "referenced by NodesGroup/workers")
	})
	archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	ctx := context.Background()
	if err := k8s.Delete(ctx, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, "base")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deletion held, naming the group's field", func() error {
		fa := get(t, ns, "base", &fcv1.FlashArchive{})
		return wantCondition(fa, fa.Status.Conditions, fcv1.ConditionInUse, metav1.ConditionTrue, fcv1.ReasonDeletionBlocked,
			"deletion waits: NodesGroup/workers still references this FlashArchive; remove spec.archiveRef (NodesGroup) there first")
	})
	if _, err := openRepo(t).Resolve(ctx, ns+".base"); err != nil {
		t.Fatalf("an archive a group names was untagged: %v", err)
	}
	// The group moves to another archive: the old one loses its holder and goes.
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "workers")}, func(o client.Object) {
		o.(*fcv1.NodesGroup).Spec.ArchiveRef.Name = "other"
	})
	eventually(t, "base gone once the group names another archive", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "base"}, &fcv1.FlashArchive{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("FlashArchive base still exists (%v)", err)
	})
}

func TestAGroupWhoseNameIsTooLongForALabelGetsItsDeployable(t *testing.T) {
	ns := newNamespace(t)
	long := "dataless-" + strings.Repeat("x", 55) // 64 characters: a valid name, not a label value
	var objs []client.Object
	for _, o := range readManifests(t, sampleSite...) {
		if g, ok := o.(*fcv1.NodesGroup); ok && g.Name == "dataless" {
			g.Name = long
		}
		objs = append(objs, o)
	}
	createAll(t, ns, objs)
	name := "edge-" + long
	fa := archiveState(t, ns, name, fcv1.ArchivePending, metav1.ConditionFalse, "BaseNotReady", "debian12-base")
	if v := fa.Labels[controllers.LabelNodesGroup]; len(v) > 63 || v == long || !strings.HasPrefix(v, "sha256-") {
		t.Errorf("label %s=%q: want a digest of the name that fits a label value", controllers.LabelNodesGroup, v)
	}
	if v := fa.Annotations[controllers.LabelNodesGroup]; v != long {
		t.Errorf("annotation %s=%q, want the full group name", controllers.LabelNodesGroup, v)
	}
	eventually(t, "the group says its deployable is made", func() error {
		g := get(t, ns, long, &fcv1.NodesGroup{})
		return wantCondition(g, g.Status.Conditions, controllers.ConditionDeployable, metav1.ConditionTrue, controllers.ReasonDeployableMade, name)
	})
	// The Valid condition, written by another reconciler, is still there beside it.
	g := get(t, ns, long, &fcv1.NodesGroup{})
	if err := wantCondition(g, g.Status.Conditions, fcv1.ConditionValid, metav1.ConditionTrue, fcv1.ReasonValid, ""); err != nil {
		t.Error(err)
	}
	// The group names no archive any more: its deployable goes (found through the digest
	// label), and so does the condition.
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, long)}, func(o client.Object) { o.(*fcv1.NodesGroup).Spec.ArchiveRef = nil })
	eventually(t, "deployable and condition gone", func() error {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &fcv1.FlashArchive{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("FlashArchive %s: %v", name, err)
		}
		g := get(t, ns, long, &fcv1.NodesGroup{})
		if c := meta.FindStatusCondition(g.Status.Conditions, controllers.ConditionDeployable); c != nil {
			return fmt.Errorf("Deployable condition still there: %+v", c)
		}
		return nil
	})
}

func TestADeployableNameTakenByAnotherArchiveIsACondition(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	// Someone's own archive already has the name the masters' deployable would get.
	objs := append([]client.Object{genericArchive(ns, "edge-masters", url, dgst)}, readManifests(t, sampleSite...)...)
	createAll(t, ns, objs)
	eventually(t, "the group says why it has no deployable", func() error {
		g := get(t, ns, "masters", &fcv1.NodesGroup{})
		return wantCondition(g, g.Status.Conditions, controllers.ConditionDeployable, metav1.ConditionFalse, controllers.ReasonDeployableNameTaken,
			"FlashArchive edge-masters exists and was not made for this group")
	})
}

func TestAnImageWhosePullSecretIsMissingWaitsForIt(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, []client.Object{&fcv1.FlashArchive{ObjectMeta: objMeta(ns, "node"), Spec: fcv1.FlashArchiveSpec{
		Type: fcv1.ArchiveGeneric, Arch: "amd64", Source: &fcv1.ArchiveSource{Image: &fcv1.ImageSource{
			Ref: "127.0.0.1:9/node:1", PullSecretRef: &fcv1.LocalObjectReference{Name: "regcred"}}}}}})
	archiveState(t, ns, "node", fcv1.ArchivePending, metav1.ConditionFalse, "ConfigurationMissing",
		"spec.source.image.pullSecretRef: Secret regcred is not found")
	// The Secret arrives: the archive goes on (and, the host being allowed but nothing
	// listening there, fails its pull) without any other change.
	createAll(t, ns, []client.Object{&corev1.Secret{ObjectMeta: objMeta(ns, "regcred"), Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"127.0.0.1:9":{"auth":"dTpw"}}}`)}}})
	archiveState(t, ns, "node", fcv1.ArchiveFailed, metav1.ConditionFalse, "BuildFailed", "127.0.0.1:9/node:1")
}
