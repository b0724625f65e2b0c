package repository

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// checkConsistent proves a store keeps its promises: index.json parses, every name and every
// recorded referrer resolves to a manifest whose whole graph is present and hashes to its
// digest, and no abandoned temp file is left behind once GC has run.
func checkConsistent(t testing.TB, s *Local) {
	t.Helper()
	ctx := context.Background()
	idx, err := s.readIndex()
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	verified := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, from string)
	walk = func(d ocispec.Descriptor, from string) {
		if verified[d.Digest] {
			return
		}
		verified[d.Digest] = true
		if err := Verify(ctx, s, d); err != nil {
			t.Errorf("%s: %v", from, err)
			return
		}
		if !isManifest(d.MediaType) {
			return
		}
		links, err := s.readManifest(ctx, d)
		if err != nil {
			t.Errorf("%s: %v", from, err)
			return
		}
		for _, c := range links.children() {
			walk(c, from)
		}
	}
	for _, m := range idx.Manifests {
		name := refName(m)
		if name != "" {
			got, err := s.Resolve(ctx, name)
			if err != nil || got.Digest != m.Digest {
				t.Errorf("name %s does not resolve: %v", name, err)
			}
		} else {
			name = "referrer " + m.Digest.String()
		}
		walk(withoutRefName(m), name)
	}
}

// checkNoAbandonedTemps fails on a temp file whose writer is gone: what GC must have removed.
func checkNoAbandonedTemps(t testing.TB, s *Local) {
	t.Helper()
	for _, dir := range []string{s.Root(), filepath.Join(s.Root(), "blobs", "sha256")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				if abandoned, _ := abandonedTemp(filepath.Join(dir, e.Name()), s.cutoff(), false); abandoned {
					t.Errorf("abandoned temp file %s survived gc", e.Name())
				}
			}
		}
	}
}
