package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

// The stages after the first boot run on the installed system: systemd units the agent
// writes at install start the agent's own copy (ResidentBinary) with "stage BeforeServices"
// before the foundation services (flarecast-services.target, which a foundation service's
// unit is WantedBy and After) and "stage AfterServices" after them. State kept in StageDir
// makes each stage run once across reboots, the second reboot included.

// Where the installed system keeps the resident agent, its configuration and its state,
// relative to the installed root.
const (
	ResidentBinary = "usr/lib/flarecast/flarecast-agent"
	ResidentConfig = "etc/flarecast/agent.json"
	StageDir       = "var/lib/flarecast/stages"
	unitDir        = "etc/systemd/system"
)

// Stages the installed system runs.
const (
	StageBeforeServices = "BeforeServices"
	StageAfterServices  = "AfterServices"
)

// Resident is what the installed system's agent needs to report: the install server, the
// node and its token. The token is the node's own and is kept readable by root only.
type Resident struct {
	Server string `json:"server"`
	Node   string `json:"node"` // namespace/cluster/node
	Token  string `json:"token"`
}

// residentFiles are the resident agent's configuration and systemd units (enabled by their
// wants links, as systemctl enable would make them).
func residentFiles(r Resident) ([]nodeFile, error) {
	cfg, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	bin := "/" + ResidentBinary
	before := fmt.Sprintf(`# Written by flarecast-agent: the BeforeServices scripts, and the second reboot when the
# configuration asks for it. Foundation services are WantedBy= and After= flarecast-services.target.
[Unit]
Description=flarecast BeforeServices stage
Wants=network-online.target
After=local-fs.target network-online.target
Before=flarecast-services.target
ConditionPathExists=!/%[2]s/after-services.done

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%[1]s stage BeforeServices

[Install]
WantedBy=multi-user.target
`, bin, StageDir)
	target := `# Written by flarecast-agent: the foundation services start with this target, after the
# BeforeServices stage.
[Unit]
Description=flarecast foundation services
Requires=flarecast-before-services.service
After=flarecast-before-services.service

[Install]
WantedBy=multi-user.target
`
	after := fmt.Sprintf(`# Written by flarecast-agent: the AfterServices scripts, then Running with the installed digest.
[Unit]
Description=flarecast AfterServices stage
Requires=flarecast-before-services.service
After=flarecast-services.target multi-user.target
ConditionPathExists=!/%[2]s/after-services.done

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%[1]s stage AfterServices

[Install]
WantedBy=multi-user.target
`, bin, StageDir)
	resident := fmt.Sprintf(`# Written by flarecast-agent: the resident agent, Running with the installed digest every
# beat; told by the install server to reinstall, it sets the next boot to the network and reboots.
[Unit]
Description=flarecast resident agent
Wants=network-online.target
# After multi-user.target as AfterServices is: without it, the target is ordered after the
# units it wants, this one among them, and systemd breaks the cycle by dropping a job.
After=network-online.target flarecast-after-services.service multi-user.target
ConditionPathExists=/%[2]s/after-services.done

[Service]
ExecStart=%[1]s resident
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
`, bin, StageDir)
	files := []nodeFile{
		{ResidentConfig, 0o600, string(cfg) + "\n"},
		{path.Join(unitDir, "flarecast-before-services.service"), 0o644, before},
		{path.Join(unitDir, "flarecast-services.target"), 0o644, target},
		{path.Join(unitDir, "flarecast-after-services.service"), 0o644, after},
		{path.Join(unitDir, ResidentUnit), 0o644, resident},
	}
	return files, nil
}

// residentLinks enable the units: multi-user.target wants each.
var residentLinks = []string{"flarecast-before-services.service", "flarecast-services.target", "flarecast-after-services.service", ResidentUnit}

// ResidentUnit runs the resident agent (flarecast-agent resident) once the stages are done.
const ResidentUnit = "flarecast-resident.service"

// installResident copies the agent into the installed root, writes its configuration and
// units and enables them.
func (in *install) installResident() error {
	r := in.cfg.Resident
	if r == nil {
		return nil
	}
	files, err := residentFiles(*r)
	if err != nil {
		return err
	}
	if in.cfg.ResidentBinary != "" {
		b, err := os.ReadFile(in.cfg.ResidentBinary)
		if err != nil {
			return fmt.Errorf("copy the agent into the installed root: %w", err)
		}
		files = append(files, nodeFile{ResidentBinary, 0o755, string(b)})
	}
	if err := writeNodeFiles(in.cfg.Target, files); err != nil {
		return err
	}
	wants := filepath.Join(in.cfg.Target, unitDir, "multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return err
	}
	for _, u := range residentLinks {
		link := filepath.Join(wants, u)
		os.Remove(link)
		if err := os.Symlink("../"+u, link); err != nil {
			return fmt.Errorf("enable %s: %w", u, err)
		}
	}
	return nil
}

// StageConfig is what one stage run on the installed system needs.
type StageConfig struct {
	Server Server
	// Root is the installed system's root: / on the node, a mounted image in a test.
	Root  string
	Stage string
	// Reboot restarts the machine for the second reboot; nil leaves that to the caller
	// (RunStage returns with Rebooted set).
	Reboot        func() error
	ScriptTimeout time.Duration
	Log           interface {
		Info(msg string, args ...any)
		Error(msg string, args ...any)
	}
}

// StageResult says what a stage run did.
type StageResult struct {
	// Ran lists the scripts that ran (none when the stage had run already).
	Ran []string
	// Rebooted is set when the stage asked for the second reboot.
	Rebooted bool
	// Running is set once the AfterServices stage reported the node Running.
	Running bool
}

// installedState is what the installed root says of itself.
type installedState struct {
	digest       string
	doubleReboot bool
	scripts      []scriptEntry
}

func readInstalled(root string) (installedState, error) {
	var st installedState
	b, err := os.ReadFile(filepath.Join(root, InstalledRecord))
	if err != nil {
		return st, fmt.Errorf("this system was not installed by flarecast-agent: %w", err)
	}
	var rec installed
	if err := json.Unmarshal(b, &rec); err != nil {
		return st, fmt.Errorf("read %s: %w", InstalledRecord, err)
	}
	st.digest = rec.Digest
	b, err = os.ReadFile(filepath.Join(root, ConfigurationManifest))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	var m struct {
		DoubleReboot bool          `json:"doubleReboot"`
		Scripts      []scriptEntry `json:"scripts"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return st, fmt.Errorf("read %s: %w", ConfigurationManifest, err)
	}
	st.doubleReboot, st.scripts = m.DoubleReboot, m.Scripts
	return st, nil
}

// RunStage runs one stage of the installed system once: its scripts in order, each reported
// with its exit code and output; then, for BeforeServices with a double reboot, the second
// reboot (once); for AfterServices, Running with the installed digest. A failing script
// reports Failed with its name and output and returns an error: the later stages do not run.
func RunStage(ctx context.Context, cfg StageConfig) (StageResult, error) {
	var res StageResult
	if cfg.ScriptTimeout == 0 {
		cfg.ScriptTimeout = 30 * time.Minute
	}
	st, err := readInstalled(cfg.Root)
	if err != nil {
		return res, err
	}
	state := filepath.Join(cfg.Root, StageDir)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return res, err
	}
	mark := func(name string) error {
		return os.WriteFile(filepath.Join(state, name), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
	}
	marked := func(name string) bool { _, err := os.Stat(filepath.Join(state, name)); return err == nil }
	report := func(ev installplan.Event) {
		if err := cfg.Server.Report(ctx, ev); err != nil && cfg.Log != nil {
			cfg.Log.Error("report", "phase", ev.Phase, "step", ev.Step, "err", err)
		}
	}
	var done string
	switch cfg.Stage {
	case StageBeforeServices:
		done = "before-services.done"
	case StageAfterServices:
		done = "after-services.done"
	default:
		return res, fmt.Errorf("stage %q: the installed system runs BeforeServices and AfterServices", cfg.Stage)
	}
	if !marked(done) {
		var scripts []scriptEntry
		for _, s := range st.scripts {
			if s.Stage == cfg.Stage {
				scripts = append(scripts, s)
			}
		}
		slices.SortStableFunc(scripts, func(a, b scriptEntry) int {
			return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
		})
		report(installplan.Event{Phase: installplan.PhaseConfiguring, Step: "stage " + cfg.Stage, Stage: cfg.Stage})
		node, _ := os.ReadFile(filepath.Join(cfg.Root, "etc/hostname"))
		env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
			"FLARECAST_NODE=" + strings.TrimSpace(string(node)), "FLARECAST_STAGE=" + cfg.Stage}
		run := func() error {
			for _, s := range scripts {
				name := "script " + s.Name
				report(installplan.Event{Phase: installplan.PhaseConfiguring, Step: name, Stage: cfg.Stage, Message: "started"})
				code, out, err := runScript(ctx, cfg.Root, s, env, cfg.ScriptTimeout)
				if err != nil {
					return &StepError{Step: name, Err: fmt.Errorf("%w; output: %s", err, out)}
				}
				c := int32(code)
				report(installplan.Event{Phase: installplan.PhaseConfiguring, Step: name, Stage: cfg.Stage, ExitCode: &c, Output: out,
					Message: fmt.Sprintf("ended with exit code %d", code)})
				res.Ran = append(res.Ran, s.Name)
				if code != 0 {
					return &StepError{Step: name, Err: fmt.Errorf("%s script %s exited with %d; output: %s", cfg.Stage, s.Name, code, out)}
				}
			}
			return nil
		}
		if cfg.Root != "/" && len(scripts) > 0 {
			err = withChroot(cfg.Root, run)
		} else {
			err = run()
		}
		if err != nil {
			var se *StepError
			if !errors.As(err, &se) {
				se = &StepError{Step: "stage " + cfg.Stage, Err: err}
			}
			report(installplan.Event{Phase: installplan.PhaseFailed, Step: se.Step, Stage: cfg.Stage, Message: se.Err.Error()})
			return res, se
		}
		if err := mark(done); err != nil {
			return res, err
		}
	}
	switch {
	case cfg.Stage == StageBeforeServices && st.doubleReboot && !marked("second-boot"):
		if err := mark("second-boot"); err != nil {
			return res, err
		}
		report(installplan.Event{Phase: installplan.PhaseRebooting, Step: "second reboot", Message: "the configuration asks for a second boot before the foundation services start"})
		res.Rebooted = true
		if cfg.Reboot != nil {
			return res, cfg.Reboot()
		}
	case cfg.Stage == StageAfterServices:
		report(installplan.Event{Phase: installplan.PhaseRunning, Step: "running", InstalledDigest: st.digest})
		res.Running = true
	}
	return res, nil
}
