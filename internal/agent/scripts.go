package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

// ConfigurationManifest is where the configuration section lists its scripts in the
// installed root (archive.ConfigurationDir + "/configuration.json"; the agent does not import
// the archive package, which brings the OCI libraries, and a test holds the two equal).
const ConfigurationManifest = "var/lib/flarecast/configuration/configuration.json"

// StageFirstBoot is the stage the agent runs itself, in the installed root, before the first
// reboot; the later stages run on the installed system.
const StageFirstBoot = "FirstBoot"

// scriptEntry is a script as configuration.json lists it.
type scriptEntry struct {
	Name  string `json:"name"`
	Order int    `json:"order"`
	Stage string `json:"stage"`
	Path  string `json:"path"`
}

// firstBootScripts are the FirstBoot scripts of the installed configuration section, in run
// order. The section, verified, is what runs; the plan's list must agree with it, so that a
// plan and an archive that disagree fail before anything runs.
func firstBootScripts(root string, planned []installplan.Script) ([]scriptEntry, error) {
	var want []string
	for _, s := range planned {
		if s.Stage == StageFirstBoot {
			want = append(want, s.Name)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, ConfigurationManifest))
	if errors.Is(err, os.ErrNotExist) {
		if len(want) > 0 {
			return nil, fmt.Errorf("the plan lists FirstBoot scripts %s, but the archive has no configuration section", strings.Join(want, ", "))
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m struct {
		Scripts []scriptEntry `json:"scripts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", ConfigurationManifest, err)
	}
	var out []scriptEntry
	var got []string
	for _, s := range m.Scripts {
		if s.Stage != StageFirstBoot {
			continue
		}
		if !path.IsAbs(s.Path) || path.Clean(s.Path) != s.Path {
			return nil, fmt.Errorf("%s: script %s has path %q, not an absolute clean path", ConfigurationManifest, s.Name, s.Path)
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b scriptEntry) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})
	for _, s := range out {
		got = append(got, s.Name)
	}
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("the plan's FirstBoot scripts [%s] are not the archive's [%s]", strings.Join(want, " "), strings.Join(got, " "))
	}
	return out, nil
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu  sync.Mutex
	n   int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { t.mu.Lock(); defer t.mu.Unlock(); return string(t.buf) }

// outputTail is how much of a script's output the agent keeps and reports.
const outputTail = 8 << 10

// chrootMounts are what a script in the installed root expects to find: the kernel's
// views, bound from the agent's own.
var chrootMounts = []struct{ src, dst, fstype string }{
	{"proc", "proc", "proc"},
	{"/sys", "sys", ""},
	{"/dev", "dev", ""},
}

// withChroot mounts /proc, /sys and /dev in root for the scripts and removes them after.
func withChroot(root string, f func() error) (err error) {
	var done []string
	defer func() {
		for i := len(done) - 1; i >= 0; i-- {
			if uerr := syscall.Unmount(done[i], syscall.MNT_DETACH); uerr != nil && err == nil {
				err = fmt.Errorf("unmount %s: %w", done[i], uerr)
			}
		}
	}()
	for _, m := range chrootMounts {
		at := filepath.Join(root, m.dst)
		if err := os.MkdirAll(at, 0o755); err != nil {
			return err
		}
		flags := uintptr(0)
		if m.fstype == "" {
			flags = syscall.MS_BIND | syscall.MS_REC
		}
		if err := syscall.Mount(m.src, at, m.fstype, flags, ""); err != nil {
			return fmt.Errorf("mount %s at %s for the scripts: %w", m.src, at, err)
		}
		done = append(done, at)
	}
	return f()
}

// runScript runs one script in the installed root with /bin/sh, its output's tail kept.
func runScript(ctx context.Context, root string, s scriptEntry, env []string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &tail{n: outputTail}
	cmd := exec.CommandContext(ctx, "/bin/sh", s.Path)
	cmd.Dir = "/"
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), nil
	case ctx.Err() == context.DeadlineExceeded:
		return -1, out.String(), fmt.Errorf("script %s ran longer than %s and was killed", s.Name, timeout)
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String(), nil
	default:
		return -1, out.String(), fmt.Errorf("script %s: %w", s.Name, err)
	}
}
