// Package e2e runs the README's commands as a newcomer would and checks what they show.
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
// ModelComplete and Valid, show the partial lab cluster completed by its Network, then stop
// everything it started.
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
		regexp.MustCompile(`(?m)^demo stopped$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s\n%s", want, text)
		}
	}
	for _, p := range []string{"controlplane.pid", "manager.pid"} {
		if _, err := os.Stat(filepath.Join(root, ".demo", p)); err == nil {
			t.Errorf(".demo/%s is left behind: the demo did not stop what it started", p)
		}
	}
	if strings.Contains(text, "panic") {
		t.Errorf("demo output shows a panic:\n%s", text)
	}
}
