package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// TestBenchManySimulatedNodesInstallAtOnce is issue 9's many-node figure: N simulated nodes
// (the real agent, each in its own network namespace with a loop-file disk) install one
// deployable of about SIZE bytes of tar at once from one server, against what the same nodes
// would do by hand from nginx serving the same blob in the same namespace:
//
//	install   N agents: GPT, mkfs of three slices, the verified streaming install, config
//	by hand   N times: mkfs.ext4 and mount the disk, curl | tee >(sha256sum) | zstd -dc | tar -x,
//	          umount (the root section only)
//	download  N times: curl | sha256sum of the root section (the install-server issue's P6
//	          pipeline, no disk)
//
// Each node's time ends once its disk image's pages are written (sync -f).
// It is a benchmark run as a test, because each side is one timed round of many processes:
//
//	FLARECAST_BENCH_SIM=1 go test -run ManySimulatedNodes -v -timeout 60m ./cmd/flarecast-agent/
//
// with SIM_BENCH_NODES (20) and SIM_BENCH_BYTES (1 GiB) to size it. The tree is the Debian base
// of hack/debian-base.sh (bin/debian-base.tar) topped up with random files to SIZE. It prints
// each side's aggregate throughput of compressed section bytes and the ratios; it asserts only
// that every node installed and verified its archive.
func TestBenchManySimulatedNodesInstallAtOnce(t *testing.T) {
	if os.Getenv("FLARECAST_BENCH_SIM") == "" {
		t.Skip("a benchmark: FLARECAST_BENCH_SIM=1 runs it (docs/benchmarks.md)")
	}
	needSimPeers(t)
	netlabTools := []string{"curl", "zstd", "tar", "sha256sum", "bash", "mount", "umount", "mkfs.ext4"}
	for _, tool := range netlabTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is missing: run hack/debian-deps.sh", tool)
		}
	}
	nodes := envInt(t, "SIM_BENCH_NODES", 20)
	size := envInt(t, "SIM_BENCH_BYTES", 1<<30)
	agentBinary(t)
	s := newSite(t)
	s.installTimeout = 45 * time.Minute

	tree := t.TempDir()
	base := filepath.Join("..", "..", "bin", "debian-base.tar")
	if _, err := os.Stat(base); err == nil {
		sh(t, "tar", "-x", "-f", base, "-C", tree, "--numeric-owner")
	}
	used := treeBytes(t, tree)
	noise := filepath.Join(tree, "usr", "share", "flarecast-bench")
	if err := os.MkdirAll(noise, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; used < int64(size); i++ {
		n := min(int64(size)-used, 16*mib)
		f, err := os.Create(filepath.Join(noise, fmt.Sprintf("noise-%04d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, n); err != nil {
			t.Fatal(err)
		}
		f.Close()
		used += n
	}
	start := time.Now()
	generic := s.generic("bench-base", tarball.DirSource(tree))
	os.RemoveAll(tree)
	t.Logf("packed %d bytes of files into the generic archive in %s", used, time.Since(start).Round(time.Second))

	// The Debian base's /boot holds a kernel and an initramfs: the plan's 16 MiB is too small.
	diskSize := (used+used/2)/mib*mib + 512*mib
	var plans []installplan.Plan
	for i := 1; i <= nodes; i++ {
		p := plan(fmt.Sprintf("b%d", i), diskSize)
		p.Disks[0].Slices[0].Size = 256 * mib
		p.NICs[0].Address = fmt.Sprintf("198.18.0.%d/24", 100+i)
		plans = append(plans, p)
	}
	a := s.derive("bench", generic, &archive.Configuration{}, plans)
	var root installplan.Section
	var total int64
	for _, sec := range archive.Sections(a.Manifest) {
		total += sec.Descriptor.Size
		if sec.Name == "rootfs" || sec.Descriptor.Size > root.Size {
			root = installplan.Section{Name: sec.Name, Digest: sec.Descriptor.Digest.String(), Size: sec.Descriptor.Size}
		}
	}
	var ns []*node
	for _, p := range plans {
		s.serve(p, a, "")
		ns = append(ns, s.newNode(p.Node, diskSize))
	}
	nginx := peers.StartNginx(t, filepath.Join(s.store.(*repository.Local).Root(), "blobs", "sha256"), peers.Nginx{
		Listen: serverIP + ":8081", Wrap: []string{"ip", "netns", "exec", s.srv.Name},
		Dial: func(addr string) error {
			_, err := s.srv.Output("bash", "-c", "exec 3<>/dev/tcp/"+strings.Replace(addr, ":", "/", 1))
			return err
		}})
	rootURL := nginx + "/blobs/" + strings.TrimPrefix(root.Digest, "sha256:")

	// all runs fn on every node at once and returns the wall time.
	all := func(side string, fn func(n *node) error) time.Duration {
		t.Helper()
		errs := make([]error, len(ns))
		var wg sync.WaitGroup
		begin := time.Now()
		for i, n := range ns {
			wg.Go(func() { errs[i] = fn(n) })
		}
		wg.Wait()
		took := time.Since(begin)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%s, node %s: %v", side, ns[i].name, err)
			}
		}
		return took
	}
	sides := []struct {
		name  string
		bytes int64
		run   func(n *node) error
	}{
		{"install", total, func(n *node) error {
			if err, out := s.install(n); err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			if end := last(s.events(n.name)); end.InstalledDigest != a.Descriptor.Digest.String() {
				return fmt.Errorf("the last event is %+v", end)
			}
			return nil
		}},
		{"by hand", root.Size, func(n *node) error {
			mnt, err := os.MkdirTemp("", "bench-"+n.name+"-")
			if err != nil {
				return err
			}
			defer os.Remove(mnt)
			script := fmt.Sprintf(`set -euo pipefail
mkfs.ext4 -q -F %[1]s
mount -o loop %[1]s %[2]s
trap 'umount %[2]s' EXIT
curl -sS -f %[3]s | tee >(sha256sum > %[2]s.sum) | zstd -dc | tar -x -C %[2]s --numeric-owner
umount %[2]s; trap - EXIT
grep -q %[4]s %[2]s.sum; rm -f %[2]s.sum`, n.image, mnt, rootURL, strings.TrimPrefix(root.Digest, "sha256:"))
			if out, err := exec.Command("ip", "netns", "exec", n.netns, "bash", "-c", script).CombinedOutput(); err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			return nil
		}},
		{"download", root.Size, func(n *node) error {
			out, err := exec.Command("ip", "netns", "exec", n.netns, "bash", "-c", "set -o pipefail; curl -sS -f "+rootURL+" | sha256sum").CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), strings.TrimPrefix(root.Digest, "sha256:")) {
				return fmt.Errorf("curl | sha256sum: %v: %s", err, out)
			}
			return nil
		}},
	}
	if os.Getenv("SIM_BENCH_REVERSE") != "" {
		sides[0], sides[1] = sides[1], sides[0]
	}
	rate := map[string]float64{}
	for _, side := range sides {
		exec.Command("sync").Run()
		took := all(side.name, func(n *node) error {
			if err := side.run(n); err != nil {
				return err
			}
			// What a loop-file disk holds is on the disk once its pages are: a node's
			// real disk would have it there.
			return exec.Command("sync", "-f", n.image).Run()
		})
		rate[side.name] = float64(side.bytes) * float64(nodes) / took.Seconds() / 1e6
		t.Logf("%-8s %d nodes in %s: %.1f MB/s of sections (%d bytes a node)", side.name, nodes, took.Round(time.Second), rate[side.name], side.bytes)
	}
	t.Logf("install over by hand: %.2f×; install over download: %.2f× (load average now %s)",
		rate["install"]/rate["by hand"], rate["install"]/rate["download"], loadavg())
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func treeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
