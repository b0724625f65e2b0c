package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// moduleRoot finds the directory of go.mod above the test.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

// TestArchiveBinaryCreatesFromATarOnStdin builds the real flarecast binary and drives it as a
// script would: repository from $FLARECAST_REPO, a tar piped in, exit codes and stderr.
func TestArchiveBinaryCreatesFromATarOnStdin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "flarecast")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	s := newSite(t)
	env := append(os.Environ(), "FLARECAST_REPO="+s.repo, "SOURCE_DATE_EPOCH=1700000000")
	flarecast := func(stdin []byte, args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	tarball, err := exec.Command("tar", "-C", s.rootfs, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := flarecast(tarball, "archive", "create", "from-tar", "--from-tar", "-")
	if code != 0 || errs != "" {
		t.Fatalf("create: exit %d, stderr %q", code, errs)
	}
	fromTar := lastLine(out)
	out, _, _ = flarecast(nil, "archive", "create", "from-dir", "--from", s.rootfs, "-o", "json")
	var created struct {
		Descriptor struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create -o json: %v\n%s", err, out)
	}
	// Same tree, by tar or by directory: the binary sections are equal.
	var a, b struct{ Sections []struct{ Digest string } }
	o1, _, _ := flarecast(nil, "archive", "info", "from-tar", "-o", "json")
	o2, _, _ := flarecast(nil, "archive", "info", created.Descriptor.Digest, "-o", "json")
	json.Unmarshal([]byte(o1), &a)
	json.Unmarshal([]byte(o2), &b)
	if len(a.Sections) != 1 || len(b.Sections) != 1 || a.Sections[0].Digest != b.Sections[0].Digest {
		t.Fatalf("binary sections from tar %v and from dir %v differ (tar manifest %s)", a.Sections, b.Sections, fromTar)
	}
	if _, errs, code := flarecast(nil, "archive", "info", "missing"); code != 1 || !strings.HasPrefix(errs, "flarecast: ") || !strings.Contains(errs, "not found") {
		t.Fatalf("info missing: exit %d stderr %q", code, errs)
	}
	if _, errs, code := flarecast(nil, "archive", "derive"); code != 2 || !strings.Contains(errs, "usage:") {
		t.Fatalf("derive without args: exit %d stderr %q", code, errs)
	}
}

// TestArchivePushPullThroughARegistry copies an archive to a distribution registry on
// 127.0.0.1 (built by hack/test-peers.sh) and back.
func TestArchivePushPullThroughARegistry(t *testing.T) {
	bin := filepath.Join(moduleRoot(t), "bin", "registry")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatalf("%s is missing and FLARECAST_REQUIRE_PEERS is set: run hack/test-peers.sh", bin)
		}
		t.Skipf("%s is missing: run hack/test-peers.sh to build it (FLARECAST_REQUIRE_PEERS=1 makes this a failure)", bin)
	}
	addr := startRegistry(t, bin)
	s := newSite(t)
	_, _, dep := s.build(t)
	remote := "oci://" + addr + "/flarecast/archives"
	if out := mustRun(t, "archive", "--repo", s.repo, "push", "web-prod", remote); lastLine(out) != dep {
		t.Fatalf("push printed %q", out)
	}
	mustRun(t, "archive", "--repo", remote, "verify", "web-prod")
	back := filepath.Join(s.dir, "back")
	mustRun(t, "archive", "--repo", back, "pull", remote, "web-prod")
	info := mustRun(t, "archive", "--repo", back, "info", "web-prod")
	if !strings.Contains(info, dep) || !strings.Contains(info, "Deployable") {
		t.Fatalf("pulled archive:\n%s", info)
	}
}

func startRegistry(t *testing.T, bin string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n  secret: flarecast-test\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not answer on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
