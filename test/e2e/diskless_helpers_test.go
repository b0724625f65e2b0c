package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

const (
	nfsPort = "2049"
	goPort  = "8099" // the guest reads its last file once this port accepts
)

// disklessDeployable makes a deployable archive of a small root (a setuid file, two files to
// read) in a local repository.
func disklessDeployable(t *testing.T, dir string) (repo, dgst string) {
	t.Helper()
	ctx := context.Background()
	repo = filepath.Join(dir, "repo")
	store, err := repository.Open(ctx, repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	for p, body := range map[string]string{"etc/os-release": "ID=flarecast-diskless\n", "etc/after-restart": "read after the restart\n", "usr/bin/su": "#!/bin/sh\n"} {
		if err := os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(tree, "usr/bin/su"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	created := time.Unix(1700000000, 0).UTC()
	base, _, err := archive.Create(ctx, store, tarball.DirSource(tree), archive.CreateOptions{Name: "base", Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: "edge", Domain: 7, Groups: []archive.GroupLoad{{Name: "diskless", Archive: base.Digest, Nodes: []string{"n5"}}}}
	res, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "base", Name: "edge-diskless", Type: archive.Deployable,
		Cluster: &archive.ClusterSection{Nodes: []archive.Node{{Name: "n5", ID: 5, Group: "diskless"}}}, SoftwareLoad: load,
		NodesGroup: "diskless", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	return repo, res.Descriptor.Digest.String()
}

// buildInit builds a static /init from a package of test/e2e.
func buildInit(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "init")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}
