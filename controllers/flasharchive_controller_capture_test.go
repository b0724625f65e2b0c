package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/tarball"
)

func captureOf(ns, name, group, node string) *fcv1.FlashArchive {
	return &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name), Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveGeneric, Arch: "amd64",
		Source: &fcv1.ArchiveSource{Capture: &fcv1.CaptureSource{NodesGroupRef: fcv1.LocalObjectReference{Name: group}, Node: node}}}}
}

// asInstallServer applies status fields the way the install server does: server-side apply
// under its own field manager.
func asInstallServer(t *testing.T, obj client.Object, kind string, status map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fcv1.GroupVersion.WithKind(kind))
	u.SetNamespace(obj.GetNamespace())
	u.SetName(obj.GetName())
	u.Object["status"] = status
	if err := k8s.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(installserver.FieldOwner), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

func recordCapture(t *testing.T, ns, name string, st fcv1.CaptureStatus) {
	t.Helper()
	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		t.Fatal(err)
	}
	asInstallServer(t, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, name)}, "FlashArchive", map[string]any{"capture": c})
}

// A capture archive waits with the reason that names what is missing (its group, its node,
// the node Running, an install server for its Cluster), refuses a Diskless node, then waits for the install server's upload and
// says how the last one went; a status.capture naming what the repository lacks fails it, and
// one naming the node's packed archive makes it Ready with that digest, status.capture left
// to the install server.
func TestACaptureArchiveWaitsForItsRunningNodeAndTakesTheInstallServersUpload(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, []client.Object{captureOf(ns, "proto", "masters", "m1")})
	archiveState(t, ns, "proto", fcv1.ArchivePending, metav1.ConditionFalse, "NodesGroupNotFound", "spec.source.capture.nodesGroupRef: no NodesGroup masters")

	createAll(t, ns, readManifests(t, sampleSite...))
	archiveState(t, ns, "proto", fcv1.ArchivePending, metav1.ConditionFalse, "CaptureNodeNotRunning",
		"node m1 of NodesGroup masters is not reported yet, not Running")
	createAll(t, ns, []client.Object{captureOf(ns, "ghost", "masters", "m9"), captureOf(ns, "blade", "diskless", "n5")})
	archiveState(t, ns, "ghost", fcv1.ArchivePending, metav1.ConditionFalse, "CaptureNodeNotFound", "NodesGroup masters has no node m9 (it has 2: m1, m2)")
	archiveState(t, ns, "blade", fcv1.ArchiveFailed, metav1.ConditionFalse, "CaptureNotSupported", "NodesGroup diskless is Diskless")

	asInstallServer(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "masters")}, "NodesGroup",
		map[string]any{"nodes": []any{map[string]any{"name": "m1", "phase": "Running", "step": "heartbeat"}}})
	archiveState(t, ns, "proto", fcv1.ArchiveAwaitingCapture, metav1.ConditionFalse, "AwaitingCapture",
		"waiting for node m1 of NodesGroup masters to stream its root file system to the install server of site edge-dc")

	// The Cluster leaves its site, then comes back: the archive follows through the watch.
	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.InstallServer.Site = "" })
	archiveState(t, ns, "proto", fcv1.ArchivePending, metav1.ConditionFalse, "NoInstallServer", "no install server serves Cluster edge")
	update(t, &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}, func(o client.Object) { o.(*fcv1.Cluster).Spec.InstallServer.Site = "edge-dc" })
	archiveState(t, ns, "proto", fcv1.ArchiveAwaitingCapture, metav1.ConditionFalse, "AwaitingCapture", "install server of site edge-dc")

	recordCapture(t, ns, "proto", fcv1.CaptureStatus{Node: ns + "/edge/m1", Attempts: 1, Message: "upload 1 from node m1 failed after 4096 bytes"})
	archiveState(t, ns, "proto", fcv1.ArchiveAwaitingCapture, metav1.ConditionFalse, "AwaitingCapture", "; last: upload 1 from node m1 failed after 4096 bytes")

	recordCapture(t, ns, "proto", fcv1.CaptureStatus{Node: ns + "/edge/m1", Attempts: 2, Digest: "sha256:" + strings.Repeat("0", 64)})
	archiveState(t, ns, "proto", fcv1.ArchiveFailed, metav1.ConditionFalse, "CaptureInvalid", "status.capture names sha256:0000")

	// What the install server packs: a Generic archive whose inputs name the node.
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "hello"), []byte("captured\n"), 0o644)
	inputs := map[string]string{installserver.InputCaptureNode: ns + "/edge/m1 (NodesGroup masters)", build.InputInputsDigest: "sha256:" + strings.Repeat("1", 64)}
	created := time.Unix(installserver.CaptureEpoch, 0).UTC()
	desc, _, err := archive.Create(context.Background(), openRepo(t), tarball.DirSource(tree), archive.CreateOptions{Name: "capture", Tag: ns + ".proto",
		Architecture: "amd64", OS: "linux", Inputs: inputs, Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	recordCapture(t, ns, "proto", fcv1.CaptureStatus{Node: ns + "/edge/m1", Attempts: 3, Digest: desc.Digest.String(), InputsDigest: inputs[build.InputInputsDigest], Message: "upload 3 packed"})
	fa := archiveState(t, ns, "proto", fcv1.ArchiveReady, metav1.ConditionTrue, "Captured", "captured "+desc.Digest.String())
	if fa.Status.Digest != desc.Digest.String() || fa.Status.InputsDigest != inputs[build.InputInputsDigest] || len(fa.Status.Sections) != 2 {
		t.Fatalf("status %+v: want the captured digest, its inputs and its two sections", fa.Status)
	}
	if fa.Status.Capture == nil || fa.Status.Capture.Attempts != 3 {
		t.Fatalf("status.capture %+v: the install server's record is gone", fa.Status.Capture)
	}
	for _, m := range fa.ManagedFields {
		if m.Subresource == "status" && m.Manager != installserver.FieldOwner && m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.Raw), `"f:capture"`) {
			t.Fatalf("field manager %s owns status.capture: only the install server writes it", m.Manager)
		}
	}
}
