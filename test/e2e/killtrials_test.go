package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillTrialsOfRootfsAndBuildSourcesConverge runs a few of hack/kill-trials.sh's kill -9
// trials (the full runs are in docs/security.md) for each kind of source the script knows:
// every interrupted build converges to one binary section, archive verify passes, and no
// request, work directory or build root is left.
func TestKillTrialsOfRootfsAndBuildSourcesConverge(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("KUBEBUILDER_ASSETS is not set: run make test")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set: run make test")
	}
	if os.Geteuid() != 0 {
		t.Skip("the build source's trials need root")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"rootfs", "build"} {
		t.Run(source, func(t *testing.T) {
			cmd := exec.Command("hack/kill-trials.sh", "2")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "KILL_TRIALS_SOURCE="+source)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "all trials passed") || !strings.Contains(string(out), "4 trials of "+source+" sources, 1 distinct binary section(s), archive verify: 4 of 4 ok") {
				t.Fatalf("kill trials of %s sources after %s: %v\n%s", source, time.Since(start), err, out)
			}
		})
	}
}
