package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

func TestInitramfsBuildUsesItsCache(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("needs busybox-static and a kernel (FLARECAST_REQUIRE_PEERS is set)")
		}
		t.Skip("needs busybox-static and a kernel: run hack/debian-deps.sh")
	}
	dir := t.TempDir()
	cache, out := filepath.Join(dir, "cache"), filepath.Join(dir, "initrd.img")
	args := []string{"initramfs", "build", "--init", "/bin/busybox", "--module", "virtio_net", "--tool", "sgdisk", "--cache-dir", cache, "--out", out}
	first := mustRun(t, args...)
	if !strings.Contains(first, "modules") || strings.Contains(first, "from the cache") {
		t.Errorf("first build said %q", first)
	}
	second := mustRun(t, args...)
	if !strings.Contains(second, "from the cache") || lastLine(first) != lastLine(second) {
		t.Errorf("second build said %q, want the same inputs from the cache", second)
	}
	a, _ := os.ReadFile(out)
	ents, _ := os.ReadDir(cache)
	if len(ents) != 1 {
		t.Fatalf("cache holds %d files, want 1", len(ents))
	}
	b, _ := os.ReadFile(filepath.Join(cache, ents[0].Name()))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("--out (%d bytes) is not the cached image (%d bytes)", len(a), len(b))
	}

	_, errs, code := run(t, nil, "initramfs", "build", "--init", "/bin/busybox", "--module", "virtio_net,no_such_nic", "--out", filepath.Join(dir, "bad"))
	if code != 1 || !strings.Contains(errs, "no_such_nic") {
		t.Errorf("missing module: exit %d, stderr %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad")); !os.IsNotExist(err) {
		t.Errorf("a failed build left its --out file")
	}
}

// The install server builds its deploy initramfs from --agent when --initramfs names none,
// with the modules of --kernel's version, once: a restart finds it in its state directory.
func TestInstallServerBuildsItsInitramfsFromTheAgent(t *testing.T) {
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if _, err := os.Stat("/bin/busybox"); err != nil || len(kernels) == 0 {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("needs busybox-static and a kernel (FLARECAST_REQUIRE_PEERS is set)")
		}
		t.Skip("needs busybox-static and a kernel: run hack/debian-deps.sh")
	}
	o := installServerOptions{agent: "/bin/busybox", kernel: kernels[0], stateDir: t.TempDir()}
	first, err := o.deployInitramfs(logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(first)
	if err != nil || fi.Size() < 1<<20 || !strings.HasPrefix(first, filepath.Join(o.stateDir, "initramfs")) {
		t.Fatalf("initramfs %s: %v %v", first, fi, err)
	}
	again, err := o.deployInitramfs(logr.Discard())
	if err != nil || again != first {
		t.Fatalf("a restart built %s (%v), want the cached %s", again, err, first)
	}
	o.initramfs = "/given/initrd.img"
	if p, err := o.deployInitramfs(logr.Discard()); err != nil || p != "/given/initrd.img" {
		t.Fatalf("--initramfs is not used as given: %s %v", p, err)
	}
	o.initramfs, o.agent = "", filepath.Join(o.stateDir, "no-agent")
	if _, err := o.deployInitramfs(logr.Discard()); err == nil || !strings.Contains(err.Error(), "--agent") {
		t.Fatalf("a missing agent: %v", err)
	}
}
