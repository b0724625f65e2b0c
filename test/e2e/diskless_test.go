package e2e

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

const (
	nfsPort = "2049"
	goPort  = "8099" // the guest reads its last file once this port accepts
)

// TestDisklessNFSRoot boots a qemu guest (TCG, the Debian kernel given with -kernel, an
// initramfs from internal/initramfs whose /init is test/e2e/nfsinit) that mounts its root
// read-only from the install server's NFS service: the deployable's verified extraction,
// exported by installserver.Exports at /flarecast/<namespace>/<group>. The guest reads a
// setuid file's mode (4755 intact) and a file's content; then the NFS service is stopped
// and started again over the same state directory (the tree is not made again), and the
// guest, still mounted, reads a file it had not opened before through the handles of before
// the restart.
func TestDisklessNFSRoot(t *testing.T) {
	requireE2E(t)
	l := newLab(t)
	ctx := context.Background()
	repo, dgst := disklessDeployable(t, l.dir)
	store, err := repository.Open(ctx, repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(l.dir, "state")
	want := []installserver.DisklessExport{{Namespace: "e2e", Cluster: "edge", Group: "diskless", Digest: dgst}}
	export := want[0].Path()
	logf, err := os.Create(filepath.Join(l.dir, "nfs.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := logr.FromSlogHandler(slog.NewTextHandler(logf, nil))

	// startNFS runs the install server's NFS service inside the lab until stop.
	startNFS := func() (stop func()) {
		x, err := installserver.NewExports(state, store, log)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- l.ns.InNetns(func() error { return x.Run(sctx, serverIP+":"+nfsPort) }) }()
		x.Set(want)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if st, ok := x.State(export); ok && st.Served {
				break
			} else if ok && st.Err != nil {
				t.Fatalf("export: %v", st.Err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the export is not served after 2 minutes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		stopped := false
		stop = func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("nfs service: %v", err)
			}
		}
		t.Cleanup(stop)
		return stop
	}
	stop := startNFS()

	img, err := initramfs.Build(initramfs.Spec{Init: buildInit(t, "./nfsinit")}, filepath.Join(l.dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	root := installplan.NFSRoot{Server: serverIP, Port: 2049, Path: export}
	serial := filepath.Join(l.dir, "serial-diskless.log")
	p := l.start("qemu-diskless", "qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-smp", "1",
		"-display", "none", "-monitor", "none", "-no-reboot", "-serial", "file:"+serial,
		"-kernel", "/boot/vmlinuz-"+img.KernelVersion, "-initrd", img.Path,
		"-append", strings.Join([]string{"console=ttyS0,115200n8", "quiet", installplan.ArgNFSRoot + "=" + root.String(),
			"flarecast.e2e.addr=" + nodeIP + "/24", "flarecast.e2e.go=" + serverIP + ":" + goPort}, " "),
		"-netdev", "tap,id=n0,ifname="+tap+",script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0,mac="+nodeMAC)
	start := time.Now()
	wait := func(re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.After(bootTimeout)
		for {
			out := readFile(t, serial)
			if strings.Contains(out, "flarecast-e2e: failed") {
				t.Fatalf("the guest failed:\n%s", tail(out))
			}
			if m := re.FindStringSubmatch(out); m != nil {
				return m
			}
			select {
			case <-p.done:
				t.Fatalf("qemu ended (%v)\nserial console:\n%s\nqemu:\n%s", p.cmd.ProcessState, tail(out), readFile(t, p.log))
			case <-deadline:
				t.Fatalf("no %q after %s\nserial console:\n%s", re, bootTimeout, tail(out))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if m := wait(regexp.MustCompile(`flarecast-e2e: mode usr/bin/su (\d+)`)); m[1] != "4755" {
		t.Errorf("usr/bin/su has mode %s in the guest, want 4755", m[1])
	}
	if m := wait(regexp.MustCompile(`flarecast-e2e: file etc/os-release (".*")`)); m[1] != `"ID=flarecast-diskless\n"` {
		t.Errorf("etc/os-release in the guest: %s", m[1])
	}
	t.Logf("root mounted and read %.1f s after qemu started", time.Since(start).Seconds())

	// Restart the install server's NFS service: a new server, the same state directory.
	stop()
	startNFS()
	l.listen(serverIP + ":" + goPort)
	if m := wait(regexp.MustCompile(`flarecast-e2e: after restart etc/after-restart (".*")`)); m[1] != `"read after the restart\n"` {
		t.Errorf("etc/after-restart in the guest: %s", m[1])
	}
	if out := readFile(t, serial); strings.Contains(out, "Stale file handle") || strings.Contains(out, "stale") {
		t.Errorf("the guest saw stale handles:\n%s", tail(out))
	}
	if n := strings.Count(readFile(t, logf.Name()), "nfs tree made"); n != 1 {
		t.Errorf("the tree was made %d times, want once (the restart uses it):\n%s", n, readFile(t, logf.Name()))
	}
}

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
