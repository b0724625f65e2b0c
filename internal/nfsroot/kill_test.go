package nfsroot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/testsupport/fstree"
)

const killChildEnv = "FLARECAST_NFSROOT_KILL_CHILD"

// TestKillChild is the process TestKillDuringChangesLeavesTheNodesDirectoryConsistent kills:
// it changes the files of a merged export (copy-ups of large files, removals, new
// directories) until it is killed.
func TestKillChild(t *testing.T) {
	dirs := os.Getenv(killChildEnv)
	if dirs == "" {
		t.Skip("run by TestKillDuringChangesLeavesTheNodesDirectoryConsistent")
	}
	lower, dir, _ := strings.Cut(dirs, "\n")
	_, o := merged(t, lower, dir)
	for i := 0; ; i++ {
		name := fmt.Sprintf("big/f%d", i%8)
		o.Chmod(name, os.FileMode(0o600+i%2*0o40))
		// The copy goes again behind the export's back, so that the next change of the
		// file is a copy-up of its 8 MiB again.
		os.Remove(filepath.Join(o.upper, name))
		o.Remove(fmt.Sprintf("small/s%d", i%16))
		o.MkdirAll(fmt.Sprintf("small/d%d", i%16), 0o755)
		os.Stdout.WriteString(".")
	}
}

// TestKillDuringChangesLeavesTheNodesDirectoryConsistent kills (SIGKILL) a process that
// changes a merged export at random moments, and checks each time that the export opens again
// with work/ emptied, that every big file reads as the tree's bytes (a copy is under its name
// only once whole), and that the small files are each there or removed, never half.
func TestKillDuringChangesLeavesTheNodesDirectoryConsistent(t *testing.T) {
	lower := filepath.Join(t.TempDir(), "lower")
	os.MkdirAll(filepath.Join(lower, "big"), 0o755)
	os.MkdirAll(filepath.Join(lower, "small"), 0o755)
	sums := map[string][32]byte{}
	for i := range 8 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 8<<20)
		name := fmt.Sprintf("big/f%d", i)
		os.WriteFile(filepath.Join(lower, name), b, 0o644)
		sums[name] = sha256.Sum256(b)
	}
	for i := range 16 {
		os.WriteFile(filepath.Join(lower, fmt.Sprintf("small/s%d", i)), []byte("small\n"), 0o644)
	}
	before := fstree.State(t, lower)
	dir := t.TempDir()
	const trials = 12
	for trial := range trials {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+lower+"\n"+dir)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()

		_, o := merged(t, lower, dir)
		if left, _ := os.ReadDir(o.work); len(left) != 0 {
			t.Fatalf("trial %d: work holds %d entries after the restart", trial, len(left))
		}
		for name, sum := range sums {
			if got := sha256.Sum256([]byte(readAll(t, o, name))); got != sum {
				t.Fatalf("trial %d: %s reads other bytes than the tree's (a half copy?)", trial, name)
			}
		}
		for i := range 16 {
			name := fmt.Sprintf("small/s%d", i)
			if fi, err := o.Lstat(name); err == nil && readAll(t, o, name) != "small\n" {
				t.Fatalf("trial %d: %s is %v with other content", trial, name, fi.Mode())
			}
		}
		if _, err := o.ReadDir("small"); err != nil {
			t.Fatalf("trial %d: small: %v", trial, err)
		}
		t.Logf("trial %d: killed after %d changes", trial, strings.Count(out.String(), "."))
	}
	if after := fstree.State(t, lower); after != before {
		t.Error("the tree changed")
	}
}
