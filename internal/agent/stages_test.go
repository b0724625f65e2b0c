package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flarecast/flarecast/internal/installplan"
)

// events is a Server that keeps what it is told.
type events struct {
	mu  sync.Mutex
	evs []installplan.Event
}

func (e *events) Plan(context.Context) (installplan.PlanResponse, error) {
	return installplan.PlanResponse{}, nil
}

func (e *events) Report(_ context.Context, ev installplan.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
	return nil
}

// installedRoot is a root as the install leaves it: busybox for /bin/sh, the installed
// record, and a configuration section with these scripts (name -> stage, body).
func installedRoot(t *testing.T, scripts map[string][2]string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the scripts run chrooted: root only")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is missing: run hack/debian-deps.sh")
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "root", "var/lib/flarecast/configuration/scripts"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	if out, err := exec.Command("cp", bb, filepath.Join(root, "bin/sh")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("n9\n"), 0o644)
	os.WriteFile(filepath.Join(root, InstalledRecord), []byte(`{"node":"ns/c/n9","archive":"a","digest":"sha256:`+strings.Repeat("b", 64)+`"}`), 0o644)
	var entries []string
	for name, s := range scripts {
		p := "/var/lib/flarecast/configuration/scripts/" + name
		os.WriteFile(filepath.Join(root, p), []byte(s[1]), 0o755)
		entries = append(entries, `{"name":"`+name+`","order":0,"stage":"`+s[0]+`","path":"`+p+`"}`)
	}
	os.WriteFile(filepath.Join(root, ConfigurationManifest), []byte(`{"schemaVersion":1,"doubleReboot":false,"scripts":[`+strings.Join(entries, ",")+`]}`), 0o644)
	return root
}

func TestAFailingStageScriptFailsTheNodeWithItsNameAndRunsAgainNextBoot(t *testing.T) {
	root := installedRoot(t, map[string][2]string{
		"a-ok":   {"BeforeServices", "#!/bin/sh\necho ok >> /root/a\n"},
		"b-fail": {"BeforeServices", "#!/bin/sh\necho no disk for the widget >&2\nexit 4\n"},
	})
	srv := &events{}
	_, err := RunStage(context.Background(), StageConfig{Server: srv, Root: root, Stage: StageBeforeServices})
	if err == nil || !strings.Contains(err.Error(), "script b-fail: BeforeServices script b-fail exited with 4; output: no disk for the widget") {
		t.Fatalf("got %v", err)
	}
	end := srv.evs[len(srv.evs)-1]
	if end.Phase != installplan.PhaseFailed || end.Step != "script b-fail" || end.Stage != StageBeforeServices {
		t.Fatalf("last event %+v", end)
	}
	// Not marked done: the stage runs again at the next boot, once the cause is fixed.
	if _, err := os.Stat(filepath.Join(root, StageDir, "before-services.done")); !os.IsNotExist(err) {
		t.Fatalf("a failed stage is marked done: %v", err)
	}
	if _, err := RunStage(context.Background(), StageConfig{Server: srv, Root: root, Stage: "Sometime"}); err == nil || !strings.Contains(err.Error(), `stage "Sometime"`) {
		t.Fatalf("an unknown stage: %v", err)
	}
}

// TestTheStageUnitsFormNoOrderingCycle: systemd-analyze verify (this machine's systemd, its
// own units, and the agent's units enabled from multi-user.target as the install enables them)
// finds no ordering cycle in the start of multi-user.target. A target is ordered after every
// unit it wants that is not ordered against it already, so the resident unit, after
// AfterServices, which is after multi-user.target, made one: systemd broke it at each boot by
// dropping one job of its choice, and a qemu node whose AfterServices job it dropped never
// reported Running.
func TestTheStageUnitsFormNoOrderingCycle(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("systemd-analyze is not installed")
		}
		t.Skip("systemd-analyze is not installed")
	}
	files, err := residentFiles(Resident{Server: "http://198.18.0.1:8080", Node: "ns/c1/n1", Token: "not-a-token"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wants := filepath.Join(dir, "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if filepath.Dir("/"+f.path) != "/"+unitDir {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.path)), []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range residentLinks {
		if err := os.Symlink(filepath.Join(dir, u), filepath.Join(wants, u)); err != nil {
			t.Fatal(err)
		}
	}
	// The units named by path too: verify then checks them, and says their binary is missing.
	args := []string{"verify", "multi-user.target"}
	for _, u := range residentLinks {
		args = append(args, filepath.Join(dir, u))
	}
	cmd := exec.Command("systemd-analyze", args...)
	// The trailing colon keeps systemd's own search path after the test's directory.
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	out, _ := cmd.CombinedOutput() // it also says the agent's binary is not installed here
	if strings.Contains(string(out), "not found") || !strings.Contains(string(out), ResidentBinary) {
		t.Fatalf("systemd-analyze did not load the units:\n%s", out)
	}
	if strings.Contains(string(out), "ordering cycle") {
		t.Errorf("the units form an ordering cycle:\n%s", out)
	}
}
