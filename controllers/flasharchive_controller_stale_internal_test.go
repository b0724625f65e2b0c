package controllers

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"oras.land/oras-go/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/repository"
)

// submissions is an executor that knows no job (a finished one was forgotten) and counts
// what it is asked to build.
type submissions struct{ specs []executor.Spec }

func (s *submissions) Submit(_ context.Context, spec executor.Spec) error {
	s.specs = append(s.specs, spec)
	return nil
}
func (s *submissions) State(context.Context, string, string) (executor.State, error) {
	return executor.State{}, nil
}
func (s *submissions) Forget(context.Context, string, string) error      { return nil }
func (s *submissions) ForgetOwner(context.Context, string, string) error { return nil }

// TestABuildRecordedButNotYetInTheCacheIsNotSubmittedAgain: the reconciler records a build's
// result in the status, then forgets its job (the Job executor deletes the Job, whose deletion
// wakes the archive at once). If the next pass reads an archive from a cache that has not seen
// that status yet, the job is unknown and the same inputs would be built again; the API server
// says they were built.
func TestABuildRecordedButNotYetInTheCacheIsNotSubmittedAgain(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := fcv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	store, err := repository.OpenLocal(t.TempDir(), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	in := &build.Inputs{Type: archive.Generic, Arch: "amd64",
		Rootfs: &build.Rootfs{URL: "file:///rootfs.tar", Digest: digest.FromString("rootfs")}}
	inputs := in.Digest(nil)

	stale := &fcv1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "base", UID: "u1", Generation: 1}}
	stale.Status = fcv1.FlashArchiveStatus{Phase: fcv1.ArchiveBuilding, ObservedGeneration: 1}
	built, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.flarecast.test", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, built, archiveTag(stale)); err != nil {
		t.Fatal(err)
	}
	fresh := stale.DeepCopy()
	fresh.Status = fcv1.FlashArchiveStatus{Phase: fcv1.ArchiveReady, ObservedGeneration: 1, InputsDigest: string(inputs),
		Digest: string(built.Digest), Size: built.Size, Location: "repo:" + archiveTag(stale)}

	exec := &submissions{}
	r := &FlashArchiveReconciler{
		Client:    fake.NewClientBuilder().WithScheme(scheme).WithObjects(stale).WithStatusSubresource(stale).Build(),
		APIReader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(fresh).WithStatusSubresource(fresh).Build(),
		Executor:  exec, Store: store, Repository: "repo",
	}
	var cached fcv1.FlashArchive
	if err := r.Get(ctx, client.ObjectKeyFromObject(stale), &cached); err != nil {
		t.Fatal(err)
	}
	st, _, err := r.progress(ctx, &cached, plan{inputs: in}, build.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(exec.specs) != 0 {
		t.Fatalf("the recorded build was submitted again as %s", exec.specs[0].Name)
	}
	if st.Phase != fcv1.ArchiveReady || st.Digest != string(built.Digest) || st.Conditions[0].Reason != ReasonBuilt {
		t.Fatalf("status %s %s %+v, want Ready with the recorded digest", st.Phase, st.Digest, st.Conditions)
	}

	// The repository lost the archive: then the same inputs are built again.
	lost, err := repository.OpenLocal(t.TempDir(), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer lost.Close()
	r.Store = lost
	if _, _, err := r.progress(ctx, &cached, plan{inputs: in}, build.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(exec.specs) != 1 {
		t.Fatalf("an archive the repository lost was submitted %d times, want once", len(exec.specs))
	}
}
