package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKillTrialsOfRootfsAndBuildSourcesConverge runs a few of hack/kill-trials.sh's kill -9
// trials (the full runs are in docs/security.md) for rootfs and build sources: every
// interrupted build converges to one binary section, archive verify passes, and no request,
// work directory or build root is left; a build source is killed while apt runs in its build
// root, and no process there outlives the kill.
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
	// A build source's trial builds the Debian base with apt (and is killed while apt runs):
	// one of each kind is enough to cost as much as two of the others.
	for _, tc := range []struct{ source, trials string }{{"rootfs", "2"}, {"build", "1"}} {
		source := tc.source
		t.Run(source, func(t *testing.T) {
			cmd := exec.Command("hack/kill-trials.sh", tc.trials)
			n, _ := strconv.Atoi(tc.trials)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "KILL_TRIALS_SOURCE="+source)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "all trials passed") || !strings.Contains(string(out), fmt.Sprintf("%[1]d trials of %[2]s sources, 1 distinct binary section(s), archive verify: %[1]d of %[1]d ok", 2*n, source)) {
				t.Fatalf("kill trials of %s sources after %s: %v\n%s", source, time.Since(start), err, out)
			}
			if apt := fmt.Sprintf("killed while apt or dpkg ran in the build root: %[1]d of %[1]d; kills that a process in the build root outlived: 0", 2*n); source == "build" && !strings.Contains(string(out), apt) {
				t.Fatalf("kill trials of build sources: no line %q\n%s", apt, out)
			}
		})
	}
}
