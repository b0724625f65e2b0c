package repository

import (
	"bytes"
	"errors"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// A writer that dies after a referrer's manifest landed but before index.json recorded it
// leaves a blob no record points at. Pushing the referrer again (what a retried copy does)
// must record it: the copy takes "already exists" for success, so this is its only chance,
// and an unrecorded referrer is invisible to Predecessors and swept by GC.
func TestRepushedReferrerIsRecordedAfterACrash(t *testing.T) {
	ctx := t.Context()
	s := openLocal(t, Options{GCGrace: -1})
	base := makeArchive(t, "base", nil, "rootfs")
	base.push(t, s, "base")
	sig := makeArchive(t, "sig", &base.manifest, "signature")
	for _, d := range []ocispec.Descriptor{sig.config, sig.layers[0]} {
		if err := s.Push(ctx, d, bytes.NewReader(sig.blobs[d.Digest])); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: the manifest is in place, its record is not.
	if err := os.WriteFile(s.BlobPath(sig.manifest.Digest), sig.blobs[sig.manifest.Digest], 0o644); err != nil {
		t.Fatal(err)
	}
	err := s.Push(ctx, sig.manifest, bytes.NewReader(sig.blobs[sig.manifest.Digest]))
	if !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatalf("push again: %v, want already exists", err)
	}
	refs, err := s.Predecessors(ctx, base.manifest)
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.manifest.Digest {
		t.Fatalf("referrers of base after the retried push = %v, %v; want the signature", refs, err)
	}
	if _, err := s.GC(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, d := range sig.all() {
		if ok, err := s.Exists(ctx, d); !ok || err != nil {
			t.Fatalf("gc removed %s of the recorded referrer (%v)", d.Digest, err)
		}
	}
}
