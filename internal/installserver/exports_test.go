package installserver_test

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

// runExports runs the exports on a free loopback port until the test ends.
func runExports(t *testing.T, x *installserver.Exports) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx, addr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("exports: %v", err)
		}
	})
	return addr
}

func waitState(t *testing.T, x *installserver.Exports, path, dgst string) installserver.ExportState {
	t.Helper()
	var st installserver.ExportState
	eventually(t, 60*time.Second, "the export "+path+" of "+dgst, func() bool {
		var ok bool
		st, ok = x.State(path)
		return ok && st.Digest == dgst && (st.Served || st.Err != nil)
	})
	return st
}

// treeListing is every entry of a tree with its type, Unix mode bits and content.
func treeListing(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %o", info.Mode().Type(), info.Sys().(*syscall.Stat_t).Mode&0o7777)
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(b)
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDisklessExportIsTheVerifiedExtraction: a Diskless group's deployable gets a tree that
// is its extraction (the same entries, modes and bytes as archive.Extract gives), made once:
// a second group of the same digest and a new Exports over the same state directory use it
// as it is. A tampered blob of another deployable is refused: no tree is made for it, nothing
// is left in the state directory, the reason is logged and reported, and the sound export
// keeps being served. A digest no group wants any more has its tree removed.
func TestDisklessExportIsTheVerifiedExtraction(t *testing.T) {
	ctx := context.Background()
	d := makeDeployable(t, "ns1")
	state := t.TempDir()
	logs := &logbuf.Buffer{}
	x, err := installserver.NewExports(state, d.store, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	var failedMu sync.Mutex
	var failed []string
	x.OnFailure = func(e installserver.DisklessExport, err error) {
		failedMu.Lock()
		defer failedMu.Unlock()
		failed = append(failed, e.Group+": "+err.Error())
	}
	runExports(t, x)
	good := installserver.DisklessExport{Namespace: "ns1", Cluster: "edge", Group: "diskless", Digest: d.digest}
	x.Set([]installserver.DisklessExport{good})
	if st := waitState(t, x, "/flarecast/ns1/diskless", d.digest); !st.Served {
		t.Fatalf("export not served: %v\n%s", st.Err, logs)
	}
	want := filepath.Join(t.TempDir(), "want")
	os.Mkdir(want, 0o755)
	if _, err := archive.Extract(ctx, d.store, d.digest, want, archive.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	got, exp := treeListing(t, x.TreeDir(d.digest)), treeListing(t, want)
	if len(got) != len(exp) {
		t.Errorf("the export has %d entries, the archive %d", len(got), len(exp))
	}
	for k, v := range exp {
		if got[k] != v {
			t.Errorf("%s: export has %q, archive %q", k, got[k], v)
		}
	}
	if !strings.HasSuffix(got["etc/os-release"], " 644 ID=flarecast-test\n") {
		t.Errorf("etc/os-release in the export: %q", got["etc/os-release"])
	}
	if strings.Count(logs.String(), "nfs tree made") != 1 {
		t.Fatalf("want one tree made:\n%s", logs)
	}

	// A second group of the same digest, and a new Exports over the same state directory
	// (a restart): the tree is used as it is.
	x2, err := installserver.NewExports(state, d.store, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	runExports(t, x2)
	again := installserver.DisklessExport{Namespace: "ns2", Cluster: "edge", Group: "diskless", Digest: d.digest}
	x2.Set([]installserver.DisklessExport{good, again})
	for _, p := range []string{"/flarecast/ns1/diskless", "/flarecast/ns2/diskless"} {
		if st := waitState(t, x2, p, d.digest); !st.Served {
			t.Errorf("%s not served: %v", p, st.Err)
		}
	}
	if n := strings.Count(logs.String(), "nfs tree made"); n != 1 {
		t.Errorf("the tree of %s made %d times, want once per digest:\n%s", d.digest, n, logs)
	}
	// No group wants the digest any more: its tree goes.
	x2.Set(nil)
	eventually(t, 30*time.Second, "the unused tree removed", func() bool {
		_, err := os.Stat(x2.TreeDir(d.digest))
		return os.IsNotExist(err)
	})
}

// TestTamperedDeployableGetsNoExport: a deployable whose binary section's blob has a byte
// changed (its descriptor unchanged) is refused while it is extracted: no tree, nothing left
// in the state directory, the reason (naming the section) logged and reported, and the
// group's nodes are not told of a root.
func TestTamperedDeployableGetsNoExport(t *testing.T) {
	ctx := context.Background()
	bad := makeDeployable(t, "ns1")
	tamperSection(t, bad)
	a, err := archive.Load(ctx, bad.store, bad.digest)
	if err != nil {
		t.Fatal(err)
	}
	sec := archive.Sections(a.Manifest)[0].Descriptor.Digest
	state := t.TempDir()
	logs := &logbuf.Buffer{}
	x, err := installserver.NewExports(state, bad.store, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	var mu sync.Mutex
	x.OnFailure = func(e installserver.DisklessExport, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, e.Group+": "+err.Error())
	}
	runExports(t, x)
	tampered := installserver.DisklessExport{Namespace: "ns1", Cluster: "edge", Group: "tampered", Digest: bad.digest}
	x.Set([]installserver.DisklessExport{tampered})
	st := waitState(t, x, "/flarecast/ns1/tampered", bad.digest)
	if st.Served || st.Err == nil || !strings.Contains(st.Err.Error(), sec.String()) {
		t.Fatalf("the tampered deployable: served %v, err %v; want refused naming section %s", st.Served, st.Err, sec)
	}
	t.Logf("refused: %v", st.Err)
	if _, err := os.Stat(x.TreeDir(bad.digest)); !os.IsNotExist(err) {
		t.Errorf("a tree of the tampered deployable exists: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(state, "nfs", "tmp")); len(left) != 0 {
		t.Errorf("left in the state directory: %v", left)
	}
	if !strings.Contains(logs.String(), "nfs export not made") || !strings.Contains(logs.String(), bad.digest) {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "tampered: ") {
		t.Errorf("failures reported: %q", failed)
	}
}

// TestHalfMadeTreeDoesNotCount: what a run stopped in the middle of an extraction left (a
// directory under nfs/tmp) is removed by the next start and never served; the tree is made
// again, whole.
func TestHalfMadeTreeDoesNotCount(t *testing.T) {
	d := makeDeployable(t, "ns1")
	state := t.TempDir()
	half := filepath.Join(state, "nfs", "tmp", strings.ReplaceAll(d.digest, ":", "-")+"-123")
	if err := os.MkdirAll(filepath.Join(half, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(half, "etc", "os-release"), []byte("ID=half"), 0o644)
	logs := &logbuf.Buffer{}
	x, err := installserver.NewExports(state, d.store, logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Fatalf("the half-made tree is still there: %v", err)
	}
	runExports(t, x)
	x.Set([]installserver.DisklessExport{{Namespace: "ns1", Cluster: "edge", Group: "diskless", Digest: d.digest}})
	if st := waitState(t, x, "/flarecast/ns1/diskless", d.digest); !st.Served {
		t.Fatal(st.Err)
	}
	if b, err := os.ReadFile(filepath.Join(x.TreeDir(d.digest), "etc", "os-release")); err != nil || string(b) != "ID=flarecast-test\n" {
		t.Fatalf("etc/os-release of the tree: %q %v", b, err)
	}
}
