package repository

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
)

func TestLocalStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{})

	in, err := s.Ingest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(in, "streamed ")
	io.WriteString(in, "layer")
	layer, err := in.Commit(ctx, "application/vnd.flarecast.test.layer.v1")
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.FromString("streamed layer"); layer.Digest != want || layer.Size != 14 {
		t.Fatalf("ingest gave %s/%d, want %s/14", layer.Digest, layer.Size, want)
	}
	if err := in.Abort(); err != nil {
		t.Fatalf("abort after commit: %v", err)
	}

	a := makeArchive(t, "base", nil, "streamed layer", "second layer")
	a.push(t, s, "zeta")
	if err := s.Tag(ctx, a.manifest, "alpha"); err != nil {
		t.Fatal(err)
	}
	for _, d := range a.all() {
		if ok, err := s.Exists(ctx, d); err != nil || !ok {
			t.Fatalf("exists %s = %v, %v", d.Digest, ok, err)
		}
		if got := fetchAll(t, s, d); !bytes.Equal(got, a.blobs[d.Digest]) {
			t.Fatalf("fetch %s returned other bytes", d.Digest)
		}
	}
	got, err := s.Resolve(ctx, "zeta")
	if err != nil || got.Digest != a.manifest.Digest || got.MediaType != ocispec.MediaTypeImageManifest || got.Annotations != nil {
		t.Fatalf("resolve zeta = %+v, %v", got, err)
	}
	byDigest, err := s.Resolve(ctx, a.manifest.Digest.String())
	if err != nil || byDigest.Digest != a.manifest.Digest || byDigest.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("resolve by digest = %+v, %v", byDigest, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "zeta" || list[0].Descriptor.Digest != a.manifest.Digest {
		t.Fatalf("list = %+v", list)
	}

	if err := s.Untag(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, "alpha"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("resolve after untag: %v, want not found", err)
	}
	if err := s.Untag(ctx, "alpha"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("second untag: %v, want not found", err)
	}
	if ok, _ := s.Exists(ctx, a.manifest); !ok {
		t.Fatal("untag removed the manifest blob; only GC may")
	}
}

func TestRetaggingMovesTheName(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{})
	a := makeArchive(t, "a", nil, "one")
	b := makeArchive(t, "b", nil, "two")
	a.push(t, s, "current")
	b.push(t, s, "current")
	got, err := s.Resolve(ctx, "current")
	if err != nil || got.Digest != b.manifest.Digest {
		t.Fatalf("resolve current = %s, %v; want %s", got.Digest, err, b.manifest.Digest)
	}
	if list, _ := s.List(ctx); len(list) != 1 {
		t.Fatalf("list = %+v, want one entry", list)
	}
}

func TestPushCommitsOnlyMatchingContent(t *testing.T) {
	data := []byte("exact bytes")
	good := descOf("application/octet-stream", data)
	tests := []struct {
		name    string
		desc    ocispec.Descriptor
		body    []byte
		wantErr error
	}{
		{"matching content lands", good, data, nil},
		{"wrong digest is refused", ocispec.Descriptor{Digest: digest.FromString("other"), Size: good.Size}, data, content.ErrMismatchedDigest},
		{"short body is refused", good, data[:4], content.ErrInvalidDescriptorSize},
		{"long body is refused", good, append(append([]byte{}, data...), 'x'), content.ErrInvalidDescriptorSize},
		{"malformed digest is refused", ocispec.Descriptor{Digest: "sha256:nothex", Size: 1}, data, errdef.ErrInvalidDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openLocal(t, Options{})
			err := s.Push(ctx, tt.desc, bytes.NewReader(tt.body))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("push: %v", err)
				}
				if err := s.Push(ctx, tt.desc, bytes.NewReader(tt.body)); !errors.Is(err, errdef.ErrAlreadyExists) {
					t.Fatalf("second push: %v, want already exists", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("push: %v, want %v", err, tt.wantErr)
			}
			if tt.desc.Digest.Validate() == nil {
				if ok, _ := s.Exists(ctx, tt.desc); ok {
					t.Fatal("a refused push left a blob")
				}
			}
			assertNoTemps(t, s)
		})
	}
}

func assertNoTemps(t *testing.T, s *Local) {
	t.Helper()
	for _, dir := range []string{s.Root(), filepath.Join(s.Root(), "blobs", "sha256")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				t.Errorf("temp file %s left in %s", e.Name(), dir)
			}
		}
	}
}

func TestFetchDetectsCorruptBlob(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(path string) error
		wantErr error
	}{
		{"flipped byte", func(p string) error {
			data, _ := os.ReadFile(p)
			data[0] ^= 0xff
			return os.WriteFile(p, data, 0o644)
		}, content.ErrMismatchedDigest},
		{"truncated file", func(p string) error { return os.Truncate(p, 3) }, content.ErrMismatchedDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openLocal(t, Options{})
			data := []byte("some blob that will rot")
			d := descOf("application/octet-stream", data)
			if err := s.Push(ctx, d, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if err := tt.corrupt(s.BlobPath(d.Digest)); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Fetch(ctx, d)
			if err == nil {
				_, err = io.ReadAll(rc)
				rc.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("fetch of corrupt blob: %v, want %v", err, tt.wantErr)
			}
			if err := Verify(ctx, s, d); err == nil {
				t.Fatal("Verify passed a corrupt blob")
			}
		})
	}
}

func TestTagRequiresCompleteArchive(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{})
	a := makeArchive(t, "partial", nil, "layer one", "layer two")
	// Everything but the second layer.
	for _, d := range []ocispec.Descriptor{a.config, a.layers[0], a.manifest} {
		if err := s.Push(ctx, d, bytes.NewReader(a.blobs[d.Digest])); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Tag(ctx, a.manifest, "partial")
	if !errors.Is(err, errdef.ErrNotFound) || !strings.Contains(err.Error(), a.layers[1].Digest.String()) {
		t.Fatalf("tag of incomplete archive: %v, want not found naming %s", err, a.layers[1].Digest)
	}
	if list, _ := s.List(ctx); len(list) != 0 {
		t.Fatalf("list = %+v after a refused tag", list)
	}
}

func TestNamesFollowOCITagRules(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"base", true},
		{"rhel9_2-x86_64.v3", true},
		{"_hidden", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".dot", false},
		{"-dash", false},
		{"name:tag", false},
		{"a/b", false},
		{"sha256:" + strings.Repeat("0", 64), false},
	}
	s := openLocal(t, Options{})
	a := makeArchive(t, "x", nil, "l")
	a.push(t, s, "")
	for _, tt := range tests {
		err := s.Tag(context.Background(), a.manifest, tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("tag %q: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if !tt.ok && !errors.Is(err, errdef.ErrInvalidReference) {
			t.Errorf("tag %q: %v, want ErrInvalidReference", tt.name, err)
		}
	}
}

func TestOpenLocations(t *testing.T) {
	ctx := context.Background()
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	tests := []struct {
		name     string
		location string
		wantErr  string
	}{
		{"new directory becomes a layout", filepath.Join(t.TempDir(), "a", "b"), ""},
		{"empty directory becomes a layout", t.TempDir(), ""},
		{"foreign directory is refused", foreign, "not an OCI image layout"},
		{"unknown scheme is refused", "s3://bucket/archives", `unknown scheme "s3://"`},
		{"empty location is refused", "", "empty location"},
		{"registry location with a tag is refused", "oci://127.0.0.1:1/archives:v1", "not a tag or digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.location, Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("open %q: %v, want error containing %q", tt.location, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, f := range []string{"oci-layout", "index.json", "blobs/sha256"} {
				if _, err := os.Stat(filepath.Join(tt.location, f)); err != nil {
					t.Errorf("layout lacks %s: %v", f, err)
				}
			}
			// Opening again finds the same layout.
			again, err := Open(ctx, tt.location, Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			again.Close()
		})
	}
}

// The layout must read back with oras-go's own OCI layout store, which knows nothing of ours.
func TestLayoutReadsWithOrasOCIStore(t *testing.T) {
	ctx := context.Background()
	s := openLocal(t, Options{})
	a := makeArchive(t, "shared", nil, "payload")
	a.push(t, s, "v1")

	ro, err := oci.NewFromFS(ctx, os.DirFS(s.Root()))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := ro.Resolve(ctx, "v1")
	if err != nil || desc.Digest != a.manifest.Digest {
		t.Fatalf("oras resolve v1 = %s, %v", desc.Digest, err)
	}
	succ, err := content.Successors(ctx, ro, desc)
	if err != nil || len(succ) != 2 {
		t.Fatalf("oras successors = %v, %v", succ, err)
	}
	data, err := content.FetchAll(ctx, ro, a.layers[0])
	if err != nil || string(data) != "payload" {
		t.Fatalf("oras fetch layer = %q, %v", data, err)
	}
}

func TestCopyBetweenLocalStoresCarriesReferrers(t *testing.T) {
	ctx := context.Background()
	src, dst := openLocal(t, Options{}), openLocal(t, Options{})
	a := makeArchive(t, "base", nil, "binary")
	a.push(t, src, "base")
	sig := makeArchive(t, "sig", &a.manifest, "signature")
	sig.push(t, src, "")
	unrelated := makeArchive(t, "other", nil, "other")
	unrelated.push(t, src, "other")

	if _, err := Copy(ctx, src, dst, "base", "copy"); err != nil {
		t.Fatal(err)
	}
	if got, err := dst.Resolve(ctx, "copy"); err != nil || got.Digest != a.manifest.Digest {
		t.Fatalf("resolve copy = %s, %v", got.Digest, err)
	}
	refs, err := dst.Predecessors(ctx, a.manifest)
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.manifest.Digest {
		t.Fatalf("referrers in the copy = %v, %v", refs, err)
	}
	if ok, _ := dst.Exists(ctx, unrelated.manifest); ok {
		t.Fatal("copy took an archive it was not asked for")
	}
	checkConsistent(t, dst)
}
