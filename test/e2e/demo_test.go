package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestDemoShowsTheSampleSiteCompleteAndValid runs `hack/demo.sh up` (what `make demo` runs)
// non-interactively: it must start the API server, etcd and the manager, show the edge cluster
// ModelComplete and Valid, show the partial lab cluster completed by its Network, build a
// generic archive and the edge groups' deployables from it with the cluster's software load,
// then stop everything it started.
func TestDemoShowsTheSampleSiteCompleteAndValid(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: run make test")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set: run make test")
	}
	netlab.HoldLock(t, netlab.SampleSiteLock)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("hack/demo.sh", "up")
	cmd.Dir = root
	// The node boots are TestDemoBootsNodesToRunningAndDownLeavesNothing's (make test-e2e).
	cmd.Env = append(os.Environ(), "DEMO_EXIT=1", "DEMO_NODES=0")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil {
		t.Fatalf("demo failed after %s: %v\n%s", time.Since(start), err, text)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^edge\s+True\s+True\s+8\s+every node is placed and addressed`),
		regexp.MustCompile(`(?m)^lab\s+False\s+True\s+2\s+.*Network lab-net is not found`),
		regexp.MustCompile(`(?m)^lab\s+True\s+True\s+2\s+every node is placed and addressed`),
		regexp.MustCompile(`(?m)^nodesgroup.flarecast.io/diskless\s+edge\s+NonMasterEligible\s+Diskless\s+4\s+True`),
		// A generic archive from the tarball the demo writes, the deployables made from it for
		// the edge groups, and the cluster's software load.
		regexp.MustCompile(`(?m)^demo-base\s+Generic\s+Ready\s+\d+\s+sha256:[0-9a-f]{64}`),
		// The samples' base: the Debian base as an image in the demo's registry.
		regexp.MustCompile(`(?m)^debian12-base\s+Generic\s+Ready\s+\d+\s+sha256:[0-9a-f]{64}`),
		regexp.MustCompile(`(?m)^edge-masters\s+Deployable\s+Ready\s+\d+\s+sha256:[0-9a-f]{64}`),
		regexp.MustCompile(`(?m)^edge\s+True\s+sha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^masters\tedge-masters\tsha256:[0-9a-f]{64}$`),
		regexp.MustCompile(`(?m)^default\.edge-diskless\s+Deployable\s+sha256:`),
		regexp.MustCompile(`(?m)^demo stopped$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s\n%s", want, text)
		}
	}
	// The install server part runs where network namespaces can be made (root, ip, udhcpc).
	if os.Geteuid() == 0 && hasTools("ip", "udhcpc", "curl") {
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^lease: ip=198\.18\.7\.1 subnet=255\.255\.0\.0 hostname=m1 boot_file=undionly\.kpxe siaddr=198\.18\.0\.1 `),
			regexp.MustCompile(`(?m)^kernel http://198\.18\.0\.1:8080/boot/vmlinuz initrd=initramfs\.img .*flarecast\.node=m1 flarecast\.token=`),
			regexp.MustCompile(`(?m)not node default/edge/m2's.*\n \(HTTP 403\)$`),
		} {
			if !want.MatchString(text) {
				t.Errorf("demo output lacks %s\n%s", want, text)
			}
		}
		demoLeftNothing(t, root)
	} else if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Error("the demo's install server part needs root, ip, udhcpc and curl (FLARECAST_REQUIRE_PEERS is set)")
	}
	if _, err := os.Stat(filepath.Join(root, ".demo")); !os.IsNotExist(err) {
		t.Errorf(".demo is left behind (%v): the demo did not remove what it made", err)
	}
	if strings.Contains(text, "panic") {
		t.Errorf("demo output shows a panic:\n%s", text)
	}
}

func hasTools(tools ...string) bool {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return false
		}
	}
	return true
}

// TestDemoBootsNodesToRunningAndDownLeavesNothing runs `make demo` as a person would leave it
// up (DEMO_STAY: no terminal here), until it says every node is Running: m1 a qemu guest
// (OVMF) that PXE-boots from the demo's install server, installs the sample's masters
// deployable (the Debian base) and boots its disk twice; m2, dl3 and dl4 simulated nodes
// (the real agent in network namespaces, loop-file disks). The progress shows the groups and
// every node's phases. Then `make demo-down`, and nothing of the demo is left: no
// namespace, link, process, mount, loop device or file.
func TestDemoBootsNodesToRunningAndDownLeavesNothing(t *testing.T) {
	requireE2E(t)
	netlab.HoldLock(t, netlab.SampleSiteLock)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".demo")); err == nil {
		t.Fatalf("%s/.demo exists: a demo runs (make demo-down first)", root)
	}
	up := exec.Command("hack/demo.sh", "up")
	up.Dir = root
	up.Env = append(os.Environ(), "DEMO_STAY=1")
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &logbuf.Buffer{}
	up.Stdout, up.Stderr = out, out
	start := time.Now()
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	t.Cleanup(func() {
		exec.Command("hack/demo.sh", "down").Run()
		syscall.Kill(-up.Process.Pid, syscall.SIGKILL)
	})
	limit := 8 * bootTimeout
	for !strings.Contains(out.String(), "every node is Running") {
		select {
		case err := <-done:
			t.Fatalf("make demo ended (%v) after %s before every node was Running:\n%s", err, time.Since(start).Round(time.Second), out)
		case <-time.After(2 * time.Second):
		}
		if time.Since(start) > limit {
			t.Fatalf("not every node is Running after %s:\n%s", limit, out)
		}
	}
	t.Logf("make demo: every node Running after %s", time.Since(start).Round(time.Second))
	text := out.String()
	for _, want := range []*regexp.Regexp{
		// The progress a person reads: the groups' counts, and each node's phase and step.
		regexp.MustCompile(`(?m)^masters\s+edge\s+MasterEligible\s+Diskfull\s+2\s+2\s`),
		regexp.MustCompile(`(?m)^m1\s+Installing\s+section `),
		regexp.MustCompile(`(?m)^m1\s+Running\s`),
		regexp.MustCompile(`(?m)^dl3\s+Running\s`),
		regexp.MustCompile(`(?m)^every node is Running: m1 \(qemu, UEFI\) and m2 dl3 dl4 \(simulated\)$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("make demo's output lacks %s\n%s", want, text)
		}
	}
	down := exec.Command("make", "demo-down")
	down.Dir = root
	if b, err := down.CombinedOutput(); err != nil || !strings.Contains(string(b), "demo stopped") {
		t.Errorf("make demo-down: %v\n%s", err, b)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Errorf("make demo still runs a minute after make demo-down")
	}
	demoLeftNothing(t, root)
	if _, err := os.Stat(filepath.Join(root, ".demo")); !os.IsNotExist(err) {
		t.Errorf(".demo is left behind (%v)", err)
	}
}

// demoLeftNothing: no namespace, link, process, mount or loop device of the demo is left.
func demoLeftNothing(t *testing.T, root string) {
	t.Helper()
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "fcdemo-") {
		t.Errorf("the demo left its network namespaces behind:\n%s", out)
	}
	if err := exec.Command("ip", "link", "show", "fcdemo0").Run(); err == nil {
		t.Error("the demo left its veth fcdemo0 behind")
	}
	state := filepath.Join(root, ".demo")
	if b, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(b), state) {
		t.Errorf("the demo left mounts behind:\n%s", b)
	}
	if b, _ := exec.Command("losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE").Output(); strings.Contains(string(b), state) {
		t.Errorf("the demo left loop devices behind:\n%s", b)
	}
	// The demo's processes run in the worktree with paths relative to it (.demo/…, bin/…).
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if cwd, _ := os.Readlink(filepath.Join(p, "cwd")); cwd != root {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, ".demo/") || strings.Contains(cmd, "qemu") || strings.HasPrefix(cmd, "bin/") {
			t.Errorf("a process of the demo still runs: %s %s", p, cmd)
		}
	}
}
