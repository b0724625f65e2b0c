package controllers_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	crd "github.com/flarecast/flarecast/config/crd"
	"github.com/flarecast/flarecast/internal/crdvalidate"
	"github.com/flarecast/flarecast/internal/model/check"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

// `model check` of the manifests, offline, and the controller, on the API server, say the same
// of a group that runs an archive of another arch: the same reason and the same message.
func TestModelCheckAndTheControllerAgreeOnAnArchiveOfAnotherArch(t *testing.T) {
	ns := newNamespace(t)
	url, dgst := tinyRootfs(t)
	var objs []client.Object
	var docs []manifest.Object
	for _, o := range readManifests(t, sampleSite...) {
		if fa, ok := o.(*fcv1.FlashArchive); ok && fa.Name == "debian12-base" {
			fa.Spec.Source = &fcv1.ArchiveSource{Rootfs: &fcv1.RootfsSource{URL: url, Digest: dgst}}
			fa.Spec.Arch = "arm64" // the groups run amd64 nodes
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
		docs = append(docs, manifest.Object{File: "site.yaml", Doc: len(docs) + 1, Object: u})
	}
	v, err := crdvalidate.Load(crd.Bases, "bases")
	if err != nil {
		t.Fatal(err)
	}
	var offline *check.Finding
	for _, f := range check.Check(context.Background(), docs, v).Findings {
		if f.Kind == "NodesGroup" && f.Name == "masters" && f.Field == "spec.archiveRef" {
			offline = &f
		}
	}
	if offline == nil {
		t.Fatal("model check found nothing wrong with group masters' spec.archiveRef")
	}

	createAll(t, ns, objs)
	fa := archiveState(t, ns, "edge-masters", fcv1.ArchiveFailed, metav1.ConditionFalse, string(offline.Reason), "")
	ready := meta.FindStatusCondition(fa.Status.Conditions, fcv1.ConditionReady)
	// The deployable's condition names its own field; the group's finding names the group's.
	if want := "spec.baseRef: " + offline.Message; ready.Message != want {
		t.Fatalf("the controller says\n%s\nmodel check says\n%s", ready.Message, want)
	}
}
