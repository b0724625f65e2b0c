package repository

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func present(t *testing.T, s *Local, ds ...ocispec.Descriptor) map[digest.Digest]bool {
	t.Helper()
	out := map[digest.Digest]bool{}
	for _, d := range ds {
		ok, err := s.Exists(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Digest] = ok
	}
	return out
}

func digests(ds []ocispec.Descriptor) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest.String())
	}
	sort.Strings(out)
	return out
}

func TestGCRemovesOnlyWhatNoNameReaches(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{GCGrace: -1})
	kept := makeArchive(t, "kept", nil, "shared binary", "kept only")
	dropped := makeArchive(t, "dropped", nil, "shared binary", "dropped only")
	kept.push(t, s, "kept")
	dropped.push(t, s, "dropped")
	// A referrer (a signature, say) of each archive, and a referrer of the kept referrer.
	sigKept := makeArchive(t, "sig-kept", &kept.manifest, "signature of kept")
	sigOfSig := makeArchive(t, "sig-of-sig", &sigKept.manifest, "countersignature")
	sigDropped := makeArchive(t, "sig-dropped", &dropped.manifest, "signature of dropped")
	for _, r := range []testArchive{sigKept, sigOfSig, sigDropped} {
		r.push(t, s, "")
	}
	if err := s.Untag(ctx, "dropped"); err != nil {
		t.Fatal(err)
	}

	wantRemoved := digests([]ocispec.Descriptor{dropped.config, dropped.layers[1], dropped.manifest,
		sigDropped.config, sigDropped.layers[0], sigDropped.manifest})

	dry, err := s.GC(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := digests(dry.Removed); !equalStrings(got, wantRemoved) {
		t.Fatalf("dry run would remove %v, want %v", got, wantRemoved)
	}
	if p := present(t, s, dropped.manifest); !p[dropped.manifest.Digest] {
		t.Fatal("dry run removed a blob")
	}

	report, err := s.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := digests(report.Removed); !equalStrings(got, wantRemoved) {
		t.Fatalf("gc removed %v, want %v", got, wantRemoved)
	}
	var size int64
	for _, d := range append(append([]ocispec.Descriptor{}, dropped.config, dropped.layers[1], dropped.manifest), sigDropped.all()...) {
		size += d.Size
	}
	if report.BytesRemoved != size {
		t.Errorf("bytes removed = %d, want %d", report.BytesRemoved, size)
	}
	all := append(append(append([]ocispec.Descriptor{}, kept.all()...), sigKept.all()...), sigOfSig.all()...)
	for d, ok := range present(t, s, all...) {
		if !ok {
			t.Errorf("gc removed %s, which a kept archive or its referrers reach", d)
		}
	}
	if report.Kept != len(all) {
		t.Errorf("kept = %d, want %d", report.Kept, len(all))
	}
	for d, ok := range present(t, s, dropped.all()...) {
		if ok && d != dropped.layers[0].Digest {
			t.Errorf("gc kept %s, which nothing reaches", d)
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if m.Digest == sigDropped.manifest.Digest {
			t.Error("index.json still records the removed referrer")
		}
	}
	checkConsistent(t, s)
}

func TestGCSparesYoungBlobsAndLiveWriters(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{}) // default grace
	orphan := makeArchive(t, "orphan", nil, "not named yet")
	orphan.push(t, s, "")

	in, err := s.Ingest(ctx) // a writer still streaming
	if err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("half a layer"))
	// And the temp file of a writer that died: nobody holds its lock.
	dead := filepath.Join(s.Root(), "blobs", "sha256", tempPrefix+"dead")
	if err := os.WriteFile(dead, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * DefaultGCGrace)
	os.Chtimes(dead, old, old)
	// An unlocked temp file within the grace period stays: on a file system where flock does
	// not reach every writer, age is the only sign of life.
	young := filepath.Join(s.Root(), "blobs", "sha256", tempPrefix+"young")
	if err := os.WriteFile(young, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}

	report, err := s.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Removed) != 0 {
		t.Fatalf("gc removed %v within the grace period", digests(report.Removed))
	}
	if report.TempFilesRemoved != 1 {
		t.Errorf("temp files removed = %d, want 1 (the dead writer's)", report.TempFilesRemoved)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead writer's temp file survived: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young temp file removed: %v", err)
	}
	in.Write([]byte(" and the rest"))
	desc, err := in.Commit(ctx, "application/octet-stream")
	if err != nil {
		t.Fatalf("live writer lost its temp file to gc: %v", err)
	}
	if got := fetchAll(t, s, desc); string(got) != "half a layer and the rest" {
		t.Fatalf("ingested %q", got)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Layouts written by other tools list images without a name; GC must keep them.
func TestGCKeepsUnnamedEntriesOfOtherTools(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{GCGrace: -1})
	a := makeArchive(t, "foreign", nil, "image pulled by another tool")
	a.push(t, s, "")
	if err := s.updateIndex(func(idx *ocispec.Index) (bool, error) {
		idx.Manifests = append(idx.Manifests, a.manifest)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	report, err := s.GC(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Removed) != 0 {
		t.Fatalf("gc removed %v of an unnamed index entry", digests(report.Removed))
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Fatalf("list shows unnamed entries: %+v", list)
	}
}
