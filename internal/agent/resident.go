package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

// The resident agent is the installed system's long-running part: started by
// flarecast-resident.service after the AfterServices stage, it reports Running with the
// digest the node runs (a heartbeat), and asks for its plan each time. The install server
// answers BootLocal while the node runs its group's deployable, or while the Cluster's
// rollout keeps it waiting; once the rollout names the node it answers Install, and the
// resident agent hands the node back to the network: next boot from the network, Rebooting,
// reboot. The rollout's bounds live on the server side; the agent only obeys, and never
// reinstalls the digest it runs.

// ResidentLoop is what the resident agent's loop needs.
type ResidentLoop struct {
	Server Server
	// Root is the installed system's root: / on the node, a directory in a test.
	Root string
	// Interval is the time between two heartbeats (30 s by default).
	Interval time.Duration
	// PrepareNextBoot makes the node's next boot a network boot (NetworkBootNext on a real
	// node; nil for a simulated one). It runs before anything is reported, so that a node
	// that cannot go back to the network says so and stays Running.
	PrepareNextBoot func(ctx context.Context) error
	// Reinstall hands the node back to the install server once Rebooting is reported: on a
	// real node it reboots (and so never returns: the node is gone), on a simulated node it
	// installs again in place. A nil return ends the loop with Reinstalled set.
	Reinstall func(ctx context.Context, resp installplan.PlanResponse) error
	// Capturer uploads the root when a plan asks for a capture (nil: such a plan is logged
	// and not acted on); Mountinfo is /proc/self/mountinfo on a node (see CaptureConfig).
	Capturer  Capturer
	Mountinfo string
	Log       interface {
		Info(msg string, args ...any)
		Error(msg string, args ...any)
	}
}

// ResidentResult is why the loop ended.
type ResidentResult struct {
	// Reinstalled is set once the node was handed back for the digest in Digest.
	Reinstalled bool
	Digest      string
	// Heartbeats counts the Running reports sent.
	Heartbeats int
}

// residentVerdict is what one answer to GET plan asks of a running node.
type residentVerdict int

const (
	keepRunning residentVerdict = iota
	reinstallNow
)

// decideResident reads one plan answer for a node that runs installed. Only Install of
// another digest reinstalls: an Install of the digest the node already runs (a server that
// has not stored the node's report yet) is not acted on, so that a node is never
// reinstalled by accident.
func decideResident(installed string, resp installplan.PlanResponse) (residentVerdict, string) {
	switch resp.Action {
	case installplan.ActionBootLocal:
		return keepRunning, resp.Message
	case installplan.ActionInstall:
		switch {
		case resp.Archive.Digest == "":
			return keepRunning, "the install server says Install but names no archive digest: not reinstalled"
		case resp.Archive.Digest == installed:
			return keepRunning, "the install server says Install of " + installed + ", which this node runs already: not reinstalled"
		}
		return reinstallNow, fmt.Sprintf("told to reinstall: archive %s (%s) replaces %s", resp.Archive.Name, resp.Archive.Digest, installed)
	}
	return keepRunning, fmt.Sprintf("the install server says %q, which this agent does not know (Install or BootLocal): not reinstalled", resp.Action)
}

// InstalledDigest is the digest the installed root at root records.
func InstalledDigest(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, InstalledRecord))
	if err != nil {
		return "", fmt.Errorf("this system was not installed by flarecast-agent: %w", err)
	}
	var rec installed
	if err := json.Unmarshal(b, &rec); err != nil {
		return "", fmt.Errorf("read %s: %w", InstalledRecord, err)
	}
	if rec.Digest == "" {
		return "", fmt.Errorf("%s records no digest", InstalledRecord)
	}
	return rec.Digest, nil
}

// RunResident reports Running with the installed digest every interval and asks for the
// node's plan, until ctx ends or the node is told to reinstall (then it reports Rebooting
// and calls Reinstall). A server that cannot be reached is logged and asked again at the
// next beat: the node keeps running whatever the install server does.
func RunResident(ctx context.Context, cfg ResidentLoop) (ResidentResult, error) {
	var res ResidentResult
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Reinstall == nil {
		return res, errors.New("the resident agent has no way to reinstall the node")
	}
	logInfo := func(msg string, args ...any) {
		if cfg.Log != nil {
			cfg.Log.Info(msg, args...)
		}
	}
	logErr := func(msg string, args ...any) {
		if cfg.Log != nil {
			cfg.Log.Error(msg, args...)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Root, StageDir, "after-services.done")); err != nil {
		// Running means the AfterServices stage ended: before that the stages report.
		return res, fmt.Errorf("the AfterServices stage has not ended on this system (%s): %w", StageDir, err)
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	last := ""
	for {
		digest, err := InstalledDigest(cfg.Root)
		if err != nil {
			return res, err
		}
		if err := cfg.Server.Report(ctx, installplan.Event{Phase: installplan.PhaseRunning, Step: "heartbeat", InstalledDigest: digest}); err != nil {
			logErr("heartbeat", "err", err)
		} else {
			res.Heartbeats++
		}
		resp, err := cfg.Server.Plan(ctx)
		if err != nil {
			logErr("ask for the plan", "err", err)
		} else {
			verdict, msg := decideResident(digest, resp)
			if verdict == reinstallNow {
				logInfo("reinstalling", "message", msg)
				if err := cfg.handBack(ctx, resp, digest, msg); err != nil {
					// The node stays up on what it runs, says why it could not go, and tries
					// again at the next beat; the rollout counts it as told, not gone.
					logErr("reinstall", "err", err)
					last = ""
					if rerr := cfg.Server.Report(ctx, installplan.Event{Phase: installplan.PhaseRunning, Step: "reinstall", InstalledDigest: digest,
						Message: "told to reinstall, but the node cannot go back to the network: " + err.Error()}); rerr != nil {
						logErr("report", "phase", installplan.PhaseRunning, "err", rerr)
					}
				} else {
					res.Reinstalled, res.Digest = true, resp.Archive.Digest
					return res, nil
				}
			} else {
				if msg != last {
					logInfo("keeps running", "digest", digest, "message", msg)
					last = msg
				}
				if resp.Capture != nil {
					cfg.capture(ctx, *resp.Capture, digest)
				}
			}
		}
		select {
		case <-ctx.Done():
			return res, nil
		case <-tick.C:
		}
	}
}

// capture uploads the root as the plan asks, then the loop goes back to its heartbeat: a
// failed upload is logged and reported, and the install server asks again.
func (cfg ResidentLoop) capture(ctx context.Context, c installplan.Capture, digest string) {
	if cfg.Capturer == nil {
		if cfg.Log != nil {
			cfg.Log.Error("capture asked, but this resident agent cannot upload", "archive", c.Archive)
		}
		return
	}
	res, err := Capture(ctx, CaptureConfig{Server: cfg.Server, Capturer: cfg.Capturer, Root: cfg.Root, Mountinfo: cfg.Mountinfo, Digest: digest}, c)
	if cfg.Log == nil {
		return
	}
	if err != nil {
		cfg.Log.Error("capture", "archive", c.Archive, "err", err)
		return
	}
	cfg.Log.Info("captured", "archive", c.Archive, "digest", res.Digest, "entries", res.Entries)
}

// handBack sets the next boot to the network, reports Rebooting and reinstalls.
func (cfg ResidentLoop) handBack(ctx context.Context, resp installplan.PlanResponse, digest, msg string) error {
	if cfg.PrepareNextBoot != nil {
		if err := cfg.PrepareNextBoot(ctx); err != nil {
			return fmt.Errorf("set the next boot to the network: %w", err)
		}
	}
	if err := cfg.Server.Report(ctx, installplan.Event{Phase: installplan.PhaseRebooting, Step: "reinstall", InstalledDigest: digest, Message: msg}); err != nil {
		// The node goes all the same: the install server learns of it from its next boot.
		if cfg.Log != nil {
			cfg.Log.Error("report", "phase", installplan.PhaseRebooting, "err", err)
		}
	}
	return cfg.Reinstall(ctx, resp)
}

// InstallInPlace is a simulated node's whole boot sequence into a directory root: the
// install (cfg.DirectoryRoot is forced), then the stages the installed system's units run,
// without the reboots, up to Running. It stands for "boot from the network, install,
// reboot, run the stages" on a node that has no firmware to reboot.
func InstallInPlace(ctx context.Context, cfg Config) (Result, error) {
	cfg.DirectoryRoot = true
	res, err := Run(ctx, cfg)
	if err != nil || res.Action != installplan.ActionInstall {
		return res, err
	}
	for _, stage := range []string{StageBeforeServices, StageAfterServices} {
		sc := StageConfig{Server: cfg.Server, Root: cfg.Target, Stage: stage, ScriptTimeout: cfg.ScriptTimeout}
		if cfg.Log != nil {
			sc.Log = cfg.Log
		}
		if _, err := RunStage(ctx, sc); err != nil {
			return res, fmt.Errorf("stage %s: %w", stage, err)
		}
	}
	return res, nil
}
