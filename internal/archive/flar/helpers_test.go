package flar

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

func openStore(t testing.TB) (*repository.Local, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	s, err := repository.OpenLocal(dir, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

var created = time.Unix(1700000000, 0).UTC()

// softwareLoad fills store with a generic archive "base" of about size bytes, a configured
// "web-conf" and a deployable "web-prod" derived from it, the way a site would have them.
func softwareLoad(t testing.TB, store repository.Store, size int) (base, conf, dep ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(7, uint64(size)))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "data"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	base, _, err := archive.Create(ctx, store, tarball.DirSource(root), archive.CreateOptions{Name: "base", Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	c, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "base", Name: "web-conf", Type: archive.Configured, Created: &created,
		Configuration: &archive.Configuration{
			Files:   []archive.File{{Path: "/etc/app.conf", Data: []byte("a=1\n")}},
			Scripts: []archive.Script{{Name: "setup.sh", Order: 1, Stage: archive.StageBeforeServices, Data: []byte("#!/bin/sh\n")}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "web-conf", Name: "web-prod", Type: archive.Deployable, Created: &created, NodesGroup: "web",
		Cluster:      &archive.ClusterSection{Files: []archive.File{{Path: "/etc/hosts", Data: []byte("10.0.0.1 n1\n")}}, Nodes: []archive.Node{{Name: "n1", ID: 1, Group: "web"}}},
		SoftwareLoad: &archive.SoftwareLoadDescriptor{Cluster: "prod", Domain: 1, Groups: []archive.GroupLoad{{Name: "web", Archive: c.Descriptor.Digest, Nodes: []string{"n1"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return base, c.Descriptor, d.Descriptor
}

func exportBytes(t testing.TB, store repository.Store, refs ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Export(context.Background(), store, &buf, refs, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// assertUntouched fails unless the store has no name and no blob: what a refused import must
// leave in a fresh store.
func assertUntouched(t testing.TB, store repository.Store, repoDir string) {
	t.Helper()
	names, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Fatalf("refused import left names %v", names)
	}
	var blobs []string
	filepath.WalkDir(filepath.Join(repoDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			blobs = append(blobs, p)
		}
		return nil
	})
	if len(blobs) != 0 {
		t.Fatalf("refused import left %d files under blobs/: %v", len(blobs), blobs)
	}
}
