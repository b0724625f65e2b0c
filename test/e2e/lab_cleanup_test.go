package e2e

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// TestLabLeavesNothingBehind: when a test's lab goes, so do its namespace (with the bridge
// and the tap), the processes it started there and its files.
func TestLabLeavesNothingBehind(t *testing.T) {
	requireE2E(t)
	var ns, dir string
	var pid int
	t.Run("lab", func(t *testing.T) {
		l := newLab(t)
		ns, dir = l.ns.Name, l.dir
		p := l.start("sleeper", "sleep", "600")
		pid = p.cmd.Process.Pid
		l.listen(serverIP + ":" + httpPort)
	})
	if out := netlab.Run(t, "ip", "netns", "list"); strings.Contains(out, ns) {
		t.Errorf("namespace %s still there: %s", ns, out)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d started in the lab still runs", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("lab directory %s still there", dir)
	}
	if out, _ := exec.Command("ip", "link", "show", bridge).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("a %s link exists outside the namespace: %s", bridge, out)
	}
}
