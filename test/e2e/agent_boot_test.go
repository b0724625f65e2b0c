package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/initramfs"
	"github.com/flarecast/flarecast/internal/installplan"
)

var (
	agentOnce sync.Once
	agentPath string
	agentErr  error
)

// agentBinary builds cmd/flarecast-agent as make agent does (static), once per test binary.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fc-e2e-agent-")
		addBuildDir(dir)
		if err != nil {
			agentErr = err
			return
		}
		agentPath = filepath.Join(dir, "flarecast-agent")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", agentPath, "../../cmd/flarecast-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentErr = errors.New("build flarecast-agent: " + err.Error() + ": " + string(out))
		}
	})
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	return agentPath
}

// TestAgentPXEBoot boots a qemu guest (SeaBIOS, iPXE ROM) from flarecast's DHCP and HTTP boot
// services into an initramfs whose /init is the real node agent (cmd/flarecast-agent): it
// loads the image's modules, gets a lease, asks the agent API for its plan with its own
// token from the kernel command line, and reports. The plan says BootLocal (the node already
// runs its digest), so the agent reports Rebooting without touching a disk; the test sees
// the report in the API's event sink, from the node's address.
func TestAgentPXEBoot(t *testing.T) {
	requireE2E(t)
	l := newLab(t)
	dir := l.dir
	b := newBootFilesWith(t, dir, agentBinary(t))
	ref := agentapi.NodeRef{Namespace: "default", Cluster: "edge", Node: "node1"}
	secret := []byte("e2e site secret, not a real one")
	token := installplan.Token(secret, ref.Namespace, ref.Cluster, ref.Node)
	digest := "sha256:" + strings.Repeat("ab", 32)
	mem := agentapi.NewMemory()
	mem.SetPlan(ref, installplan.PlanResponse{
		Action:  installplan.ActionBootLocal,
		Plan:    installplan.Plan{Version: installplan.Version, Namespace: ref.Namespace, Cluster: ref.Cluster, Node: ref.Node, Hostname: ref.Node},
		Archive: installplan.Archive{Name: "edge-workers", Digest: digest},
	})
	api, err := agentapi.NewHandler(agentapi.Options{Secret: secret, Plans: mem, Events: mem,
		Holder: agentapi.NewTokens(secret, []agentapi.NodeRef{ref}).Holder})
	if err != nil {
		t.Fatal(err)
	}
	script := b.script(t, false)
	script.Token = token
	script.Args = []string{"console=ttyS0,115200n8", "quiet",
		installplan.ArgNamespace + "=" + ref.Namespace, installplan.ArgCluster + "=" + ref.Cluster}
	l.startFlarecastWith(b, script, func(boot http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle(installplan.APIPrefix+"/", api)
		mux.Handle("/", boot)
		return mux
	})
	var rebooting agentapi.RecordedEvent
	l.bootUntil(bios, func(string, *bootResult) bool {
		for _, ev := range mem.Events() {
			if ev.Event.Phase == installplan.PhaseRebooting {
				rebooting = ev
				return true
			}
		}
		return false
	}, false)
	if rebooting.Node != ref || !strings.HasPrefix(rebooting.From, nodeIP) || !strings.Contains(rebooting.Event.Message, digest) {
		t.Errorf("report %+v: want node %s from %s naming %s", rebooting, ref, nodeIP, digest)
	}
	t.Logf("the agent reported %d events; the last: %+v", len(mem.Events()), rebooting.Event)
}

// newBootFilesWith is newBootFiles with another /init.
func newBootFilesWith(t *testing.T, dir, init string) *bootFiles {
	t.Helper()
	return layoutBootFiles(t, dir, initramfs.Spec{Init: init})
}
