package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("hack/demo.sh", "up")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_EXIT=1")
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
		if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "fcdemo-") {
			t.Errorf("the demo left its network namespaces behind:\n%s", out)
		}
		if err := exec.Command("ip", "link", "show", "fcdemo0").Run(); err == nil {
			t.Error("the demo left its veth fcdemo0 behind")
		}
	} else if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Error("the demo's install server part needs root, ip, udhcpc and curl (FLARECAST_REQUIRE_PEERS is set)")
	}
	for _, p := range []string{"controlplane.pid", "manager.pid", "installserver.pid", "registry.pid"} {
		if _, err := os.Stat(filepath.Join(root, ".demo", p)); err == nil {
			t.Errorf(".demo/%s is left behind: the demo did not stop what it started", p)
		}
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
