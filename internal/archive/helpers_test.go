package archive

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// openStore opens a real local store in a fresh directory.
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

// writeTree makes a small root file system: nested directories, incompressible files totalling
// about size bytes, a symlink, a hard link and an empty file.
func writeTree(t testing.TB, dir string, size int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "var/data"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("ID=flarecast-test\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "etc/empty"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "usr/bin/tool"), []byte("#!/bin/sh\necho tool\n"), 0o755))
	must(os.Symlink("../usr/bin/tool", filepath.Join(dir, "etc/tool-link")))
	must(os.Link(filepath.Join(dir, "usr/bin/tool"), filepath.Join(dir, "usr/bin/tool-hard")))
	const chunk = 1 << 20
	for i := 0; size > 0; i++ {
		n := min(size, chunk)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		must(os.WriteFile(filepath.Join(dir, "var/data", "blob"+string(rune('a'+i%26))+string(rune('a'+i/26))), b, 0o640))
		size -= n
	}
}

func createGeneric(t testing.TB, store repository.Store, name string, size int) ocispec.Descriptor {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, size)
	created := time.Unix(1700000000, 0).UTC()
	desc, _, err := Create(context.Background(), store, tarball.DirSource(root), CreateOptions{
		Name: name, Architecture: "amd64", OS: "linux", Created: &created, Inputs: map[string]string{"source": "test tree"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

func sampleConfiguration(marker string) *Configuration {
	return &Configuration{
		Files: []File{
			{Path: "/etc/app/app.conf", Mode: 0o600, Data: []byte("marker=" + marker + "\n")},
			{Path: "/etc/motd", Data: []byte("configured by " + marker + "\n")},
		},
		Scripts: []Script{
			{Name: "20-after.sh", Order: 20, Stage: StageAfterServices, Data: []byte("#!/bin/sh\necho after\n")},
			{Name: "10-before.sh", Order: 10, Stage: StageBeforeServices, Data: []byte("#!/bin/sh\necho before\n")},
			{Name: "05-first.sh", Order: 5, Stage: StageFirstBoot, Data: []byte("#!/bin/sh\necho first\n")},
		},
		DoubleReboot: true,
	}
}

func sampleCluster() *ClusterSection {
	return &ClusterSection{
		Files: []File{{Path: "/etc/hosts", Data: []byte("10.0.0.1 n1\n10.0.0.2 n2\n")}},
		Nodes: []Node{
			{Name: "n2", ID: 2, Group: "web", Addresses: []string{"10.0.0.2"}},
			{Name: "n1", ID: 1, Group: "web", Role: "MasterEligible", Addresses: []string{"10.0.0.1"}},
		},
	}
}

func sampleLoad(groupArchive digest.Digest) *SoftwareLoadDescriptor {
	return &SoftwareLoadDescriptor{Cluster: "prod", Domain: 7, Groups: []GroupLoad{
		{Name: "web", Archive: groupArchive, Nodes: []string{"n2", "n1"}},
		{Name: "db", Archive: digest.FromString("db archive"), Nodes: []string{"n3"}},
	}}
}

// blobBytes sums the sizes of the blob files of a local store: what is on disk, whatever the
// code under test claims it wrote.
func blobBytes(t testing.TB, repoDir string) (int64, int) {
	t.Helper()
	var n int64
	count := 0
	err := filepath.WalkDir(filepath.Join(repoDir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
			count++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, count
}
