package repository

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// index.json and manifests come from other tools (a layout pulled by crane, copied by hand);
// whatever they hold, the store reports errors and never panics or removes named content.
func FuzzForeignIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:nothex","size":-1,"annotations":{"org.opencontainers.image.ref.name":"x"}}]}`))
	f.Add([]byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, index []byte) {
		ctx := context.Background()
		s := openLocal(t, Options{GCGrace: -1})
		a := makeArchive(t, "named", nil, "named layer")
		a.push(t, s, "named")
		idx, err := s.readIndex()
		if err != nil {
			t.Fatal(err)
		}
		// The fuzzed index replaces ours; the blobs stay.
		if err := os.WriteFile(filepath.Join(s.Root(), indexName), index, 0o644); err != nil {
			t.Fatal(err)
		}
		s.List(ctx)
		s.Resolve(ctx, "named")
		s.Resolve(ctx, a.manifest.Digest.String())
		s.GC(ctx, true)
		s.Tag(ctx, a.manifest, "again")
		// Put ours back: nothing above may have removed a blob it reaches.
		if err := s.writeIndex(idx); err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, s)
	})
}
