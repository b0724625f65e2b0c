package tarball

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needPeer returns the path of a command line tool a test compares against. Without it the
// test skips, unless FLARECAST_REQUIRE_PEERS is set (as `make test` does), where it fails.
func needPeer(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatalf("%s not found and FLARECAST_REQUIRE_PEERS is set: install the Debian package %s", name, name)
		}
		t.Skipf("%s not installed (Debian package %s); set FLARECAST_REQUIRE_PEERS=1 to make this a failure", name, name)
	}
	return p
}

func runShell(t *testing.T, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	return out
}

func TestGNUTarAndZstdReadPackedTree(t *testing.T) {
	needPeer(t, "tar")
	needPeer(t, "zstd")
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src, richTree(), time.Now())
	out, _ := packBytes(t, DirSource(src), PackOptions{SourceDateEpoch: 1700000000})
	runShell(t, out, `zstd -dc | tar -xpf - --xattrs --xattrs-include='*' --numeric-owner -C "$1"`, dst)
	if d := diffLines(withoutSockets(describe(t, src)), describe(t, dst)); d != "" {
		t.Fatalf("GNU tar extracted another tree:\n%s", d)
	}
	for p, mt := range mtimes(t, dst) {
		if mt != 1700000000*int64(time.Second) {
			t.Errorf("%s: mtime %d after GNU tar, want the epoch", p, mt)
		}
	}
	// And GNU tar lists the entries in our order, with hard links to the first name.
	list := string(runShell(t, out, `zstd -dc | tar -tvf - --numeric-owner`))
	if !strings.Contains(list, "usr/lib/libc.so link to usr/a-link") {
		t.Errorf("GNU tar listing lacks the hard link:\n%s", list)
	}
}

func TestRepackingGNUTarOutputEqualsPackingTheDirectory(t *testing.T) {
	needPeer(t, "tar")
	src := t.TempDir()
	makeTree(t, src, richTree(), time.Now())
	gnu := runShell(t, nil, `tar -C "$1" --sort=name --format=pax --numeric-owner --xattrs --xattrs-include='*' -cf - . 2>/dev/null`, src)
	want, _ := packBytes(t, DirSource(src), PackOptions{SourceDateEpoch: 99})
	got, _ := packBytes(t, TarSource(bytes.NewReader(gnu)), PackOptions{SourceDateEpoch: 99})
	if !bytes.Equal(got, want) {
		t.Fatal("normalizing GNU tar's archive of the tree gives other bytes than packing the tree")
	}
}

func TestExtractReadsGNUTarArchives(t *testing.T) {
	needPeer(t, "tar")
	needPeer(t, "zstd")
	src, dst := t.TempDir(), t.TempDir()
	makeTree(t, src, richTree(), time.Now())
	gnu := runShell(t, nil, `tar -C "$1" --format=pax --numeric-owner --xattrs --xattrs-include='*' -cf - . 2>/dev/null | zstd -q -3`, src)
	rep := extractBytes(t, gnu, dst, ExtractOptions{})
	if rep.Compressed != "zstd" {
		t.Error("zstd input not detected")
	}
	if d := diffLines(withoutSockets(describe(t, src)), describe(t, dst)); d != "" {
		t.Fatalf("extracting GNU tar's archive gives another tree:\n%s", d)
	}
	if _, err := os.Lstat(filepath.Join(dst, "tmp/socket")); !os.IsNotExist(err) {
		t.Errorf("socket: %v", err)
	}
}
