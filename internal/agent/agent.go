package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/disklayout"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/tarball"
)

// Server is the agent API as the engine uses it; *agentapi.Client is one.
type Server interface {
	Plan(ctx context.Context) (installplan.PlanResponse, error)
	Report(ctx context.Context, ev installplan.Event) error
}

// Config is what one install needs.
type Config struct {
	Server Server
	// HTTP fetches the sections from their URLs (a client without a total timeout: a
	// section of gigabytes takes minutes; cuts are resumed).
	HTTP *http.Client
	// Sysfs and DevDir are where block devices are listed (/sys, /dev).
	Sysfs, DevDir string
	// DiskMap, for simulated nodes, gives the device of each disk of the plan by its name in
	// the model; nil finds the disks by what the model says of them.
	DiskMap map[string]string
	// Target is where the node's root file system is mounted while it is installed.
	Target string
	// ScriptTimeout bounds each FirstBoot script (30 min by default).
	ScriptTimeout time.Duration
	// Resident, when set, installs the resident agent: this configuration, the units of the
	// later stages, and the binary ResidentBinary names (the running agent, normally) copied
	// into the installed root.
	Resident       *Resident
	ResidentBinary string
	// NoBootLoader leaves the boot loader out, for a simulated node (a disk image that no
	// firmware boots, and an archive that need not be bootable).
	NoBootLoader bool
	// DirectoryRoot, for a simulated node, installs into Target as a plain directory: no
	// disks are laid out or mounted (what Target held is removed first) and no boot loader
	// is installed. Many such nodes install at once without loop devices.
	DirectoryRoot bool
	// ProgressEvery is the least time between two progress reports (1 s by default).
	ProgressEvery time.Duration
	// LayerDir holds a Diskless NFS root's layers: the export (lower) and the tmpfs of its
	// overlay (rw). Default /run/flarecast/root, which moves with /run into the root.
	LayerDir string
	// MountNFS mounts an NFS export (KernelNFSMount by default).
	MountNFS NFSMounter
	// RAMRootSize is the size of a RAM root's tmpfs; 0 takes the node's memory less 512 MiB
	// (half of it at least).
	RAMRootSize int64
	Log         *slog.Logger
}

// Result is what an install did.
type Result struct {
	Action installplan.Action
	// InstalledDigest is the archive's digest once every section matched it.
	InstalledDigest string
	// Resumes counts the downloads that went on after a cut.
	Resumes int
	// Root, for a Diskless node, is its assembled root, still mounted: the caller switches
	// into it (SwitchRoot). Empty after a disk install.
	Root string
}

// StepError is a failed step: what the agent was doing, and why it stopped.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// install is one run's state, shared by its steps.
type install struct {
	cfg     Config
	log     *slog.Logger
	resp    installplan.PlanResponse
	plan    installplan.Plan
	devices []disklayout.BlockDevice
	parts   []laidOut
	mounted []string
	result  Result
	kind    rootKind
	// limit bounds what the sections may expand to: the disks' size, or the RAM root's.
	limit int64
	// previous is the digest a persistent root recorded before this boot.
	previous string
}

// step is one phase function of the install; the table below is the order they run in and
// the phase each reports.
type step struct {
	name  string
	phase installplan.Phase
	run   func(*install, context.Context) error
}

var steps = map[rootKind][]step{
	rootDisks: {
		{"disks", installplan.PhaseInstalling, (*install).layOutStep},
		{"mount", installplan.PhaseInstalling, (*install).mountStep},
		{"sections", installplan.PhaseInstalling, (*install).sections},
		{"node files", installplan.PhaseConfiguring, (*install).writeNodeStep},
		{"scripts", installplan.PhaseConfiguring, (*install).firstBoot},
		{"boot loader", installplan.PhaseConfiguring, (*install).bootLoader},
		{"boot entry", installplan.PhaseConfiguring, (*install).bootEntryStep},
		{"finish", installplan.PhaseRebooting, (*install).finish},
	},
	rootNFSOverlay: {
		{"root", installplan.PhaseInstalling, (*install).nfsOverlayRoot},
		{"node files", installplan.PhaseConfiguring, (*install).writeNodeStep},
		{"scripts", installplan.PhaseConfiguring, (*install).firstBoot},
		{"finish", installplan.PhaseRebooting, (*install).finishDiskless},
	},
	rootNFSPersistent: {
		{"root", installplan.PhaseInstalling, (*install).nfsPersistentRoot},
		{"node files", installplan.PhaseConfiguring, (*install).writeNodeStep},
		{"scripts", installplan.PhaseConfiguring, (*install).firstBoot},
		{"finish", installplan.PhaseRebooting, (*install).finishDiskless},
	},
	rootRAM: {
		{"root", installplan.PhaseInstalling, (*install).ramRoot},
		{"sections", installplan.PhaseInstalling, (*install).sections},
		{"node files", installplan.PhaseConfiguring, (*install).writeNodeStep},
		{"scripts", installplan.PhaseConfiguring, (*install).firstBoot},
		{"finish", installplan.PhaseRebooting, (*install).finishDiskless},
	},
}

// Run installs the node: it fetches its plan, lays out its disks, streams and verifies every
// section, writes the node's own values, runs the FirstBoot scripts and reports each step.
// On a failure it reports Failed with the step and the message and returns a *StepError;
// the caller stays up (a node is never rebooted into what failed).
func Run(ctx context.Context, cfg Config) (Result, error) {
	in := &install{cfg: cfg, log: cfg.Log}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.cfg.HTTP == nil {
		in.cfg.HTTP = &http.Client{}
	}
	if in.cfg.Sysfs == "" {
		in.cfg.Sysfs = "/sys"
	}
	if in.cfg.DevDir == "" {
		in.cfg.DevDir = "/dev"
	}
	if in.cfg.ScriptTimeout == 0 {
		in.cfg.ScriptTimeout = 30 * time.Minute
	}
	if in.cfg.ProgressEvery == 0 {
		in.cfg.ProgressEvery = time.Second
	}
	if in.cfg.LayerDir == "" {
		in.cfg.LayerDir = "/run/flarecast/root"
	}
	if in.cfg.MountNFS == nil {
		in.cfg.MountNFS = KernelNFSMount
	}
	err := in.run(ctx)
	if err != nil {
		var se *StepError
		if !errors.As(err, &se) {
			se = &StepError{Step: "plan", Err: err}
			err = se
		}
		in.log.Error("install failed", "step", se.Step, "err", se.Err)
		if uerr := in.unmountAll(); uerr != nil {
			in.log.Error("unmount after the failure", "err", uerr)
		}
		// Report with a context of its own: the failure may be the caller's context ending.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		in.report(rctx, installplan.Event{Phase: installplan.PhaseFailed, Step: se.Step, Message: se.Err.Error()})
	}
	return in.result, err
}

func (in *install) run(ctx context.Context) error {
	if err := in.cfg.Server.Report(ctx, installplan.Event{Phase: installplan.PhaseBooting, Step: "plan", Message: "asking for the install plan"}); err != nil {
		return err
	}
	resp, err := in.cfg.Server.Plan(ctx)
	if err != nil {
		return err
	}
	in.resp, in.plan, in.result.Action = resp, resp.Plan, resp.Action
	if resp.Action == installplan.ActionBootLocal {
		in.report(ctx, installplan.Event{Phase: installplan.PhaseRebooting, Step: "boot local", Message: "the node already holds " + resp.Archive.Digest})
		return nil
	}
	if resp.Action != installplan.ActionInstall {
		return fmt.Errorf("the server says %q, which this agent does not know (Install or BootLocal)", resp.Action)
	}
	if in.kind, err = decideRoot(resp); err != nil {
		return err
	}
	if in.kind != rootDisks && in.cfg.DirectoryRoot {
		return errors.New("a simulated node with a directory root installs nodes with disks only, not a Diskless one")
	}
	if err := in.sharedData(); err != nil {
		return err
	}
	if len(resp.Archive.Sections) == 0 {
		return fmt.Errorf("archive %s has no sections", resp.Archive.Name)
	}
	for _, d := range in.plan.Disks {
		in.limit += d.Size
	}
	for _, s := range steps[in.kind] {
		in.report(ctx, installplan.Event{Phase: s.phase, Step: s.name})
		if err := s.run(in, ctx); err != nil {
			var se *StepError
			if errors.As(err, &se) {
				return err
			}
			return &StepError{Step: s.name, Err: err}
		}
	}
	return nil
}

// report sends an event; a report that cannot be sent is logged, and the install goes on
// (the client has retried already, and the final state is reported again at the end).
func (in *install) report(ctx context.Context, ev installplan.Event) {
	if err := in.cfg.Server.Report(ctx, ev); err != nil {
		in.log.Error("report", "phase", ev.Phase, "step", ev.Step, "err", err)
	}
}

func (in *install) layOutStep(ctx context.Context) error {
	if in.cfg.DirectoryRoot {
		return clearDir(in.cfg.Target)
	}
	return in.layOut(ctx)
}

func (in *install) mountStep(context.Context) error {
	if in.cfg.DirectoryRoot {
		return nil
	}
	return in.mountAll()
}

// clearDir removes what dir holds: a directory root is installed from nothing, as a disk is.
func clearDir(dir string) error {
	if abs, err := filepath.Abs(dir); err != nil || abs == "/" {
		return fmt.Errorf("a directory root must not be %q", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// sections streams each section from its URL into the target, hashing as it goes, and
// checks its digest, size and diffID. A section that does not match wipes the disks: what
// was written is not the archive, and nothing may boot it.
func (in *install) sections(ctx context.Context) error {
	var total, done int64
	for _, s := range in.resp.Archive.Sections {
		total += s.Size
	}
	limit := in.limit
	last := time.Now()
	for _, s := range in.resp.Archive.Sections {
		base := done
		err := in.section(ctx, s, limit, func(n int64) {
			done = base + n
			if time.Since(last) >= in.cfg.ProgressEvery {
				last = time.Now()
				in.report(ctx, installplan.Event{Phase: installplan.PhaseInstalling, Step: "section " + s.Name,
					Bytes: done, Total: total, Percent: int32(done * 100 / max(total, 1))})
			}
		})
		if err != nil && in.kind == rootRAM {
			if errors.Is(err, tarball.ErrTooLarge) || errors.Is(err, syscall.ENOSPC) {
				err = fmt.Errorf("%w: the archive does not fit in the RAM root's %d MiB (the node's memory less 512 MiB): the node needs more memory for it", err, in.limit>>20)
			}
			if uerr := in.unmountAll(); uerr != nil {
				err = fmt.Errorf("%w (and unmounting the RAM root: %v)", err, uerr)
			} else {
				err = fmt.Errorf("%w: the RAM root was discarded, nothing of it boots", err)
			}
			return &StepError{Step: "section " + s.Name, Err: err}
		}
		if err != nil {
			if werr := in.wipeDisks(); werr != nil {
				err = fmt.Errorf("%w (and wiping the disks: %v)", err, werr)
			} else {
				err = fmt.Errorf("%w: the disks were wiped, nothing of it will boot", err)
			}
			return &StepError{Step: "section " + s.Name, Err: err}
		}
		done = base + s.Size
	}
	in.report(ctx, installplan.Event{Phase: installplan.PhaseInstalling, Step: "sections", Bytes: total, Total: total, Percent: 100,
		Message: fmt.Sprintf("%d sections verified", len(in.resp.Archive.Sections))})
	return nil
}

func (in *install) section(ctx context.Context, s installplan.Section, limit int64, progress func(int64)) error {
	if s.URL == "" || s.Digest == "" || s.Size <= 0 {
		return fmt.Errorf("the plan gives section %s no URL, digest or size", s.Name)
	}
	r := newResumingReader(ctx, in.cfg.HTTP, s.URL, s.Size)
	defer r.Close()
	r.onResume = func(off int64, cause error) {
		in.result.Resumes++
		in.log.Info("download cut, resuming", "section", s.Name, "offset", off, "cause", cause)
	}
	counted := &countingReader{r: r, progress: progress}
	rep, xerr := tarball.Extract(ctx, counted, in.cfg.Target, tarball.ExtractOptions{MaxBytes: limit})
	// Read what the extractor left (the padding after the last frame, or everything after a
	// tar it refused) so that the digest covers every byte of the blob: a tampered blob
	// often breaks the tar too, and the digest's verdict is the one that names the fault.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if r.off != s.Size {
		return fmt.Errorf("read %d bytes, the archive says %d", r.off, s.Size)
	}
	if got := r.digest(); got != s.Digest {
		err := fmt.Errorf("digest mismatch: the bytes served have %s, the archive says %s", got, s.Digest)
		if xerr != nil {
			err = fmt.Errorf("%w (and extracting them failed: %v)", err, xerr)
		}
		return err
	}
	if xerr != nil {
		return fmt.Errorf("the digest matches but the tar inside cannot be extracted: %w", xerr)
	}
	if s.DiffID != "" && rep.DiffID != s.DiffID {
		return fmt.Errorf("diffID mismatch: the tar inside has %s, the archive says %s", rep.DiffID, s.DiffID)
	}
	if len(rep.NotRestored) > 0 {
		in.log.Info("section extracted with losses", "section", s.Name, "notRestored", rep.Summary())
	}
	in.log.Info("section verified", "section", s.Name, "digest", s.Digest, "bytes", s.Size, "resumes", r.resumes)
	return nil
}

type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.progress(c.n)
	}
	return n, err
}

func (in *install) writeNodeStep(context.Context) error {
	_, err := os.Stat(filepath.Join(in.cfg.Target, "etc/network/interfaces"))
	files, err := nodeFiles(nodeSetup{plan: in.plan, archive: in.resp.Archive, parts: in.parts, mounts: in.resp.Mounts,
		ifupdown: err == nil, netRoot: in.kind.netRoot()})
	if err != nil {
		return err
	}
	if err := writeNodeFiles(in.cfg.Target, files); err != nil {
		return err
	}
	if err := in.disklessState(); err != nil {
		return err
	}
	return in.installResident()
}

// sharedData checks that the install server resolved every shared file system the plan
// names: a node without its group's data is not a node of the group.
func (in *install) sharedData() error {
	for _, m := range in.plan.Mounts {
		if !slices.ContainsFunc(in.resp.Mounts, func(r installplan.NFSMount) bool { return r.Name == m.Name }) {
			return fmt.Errorf("the plan names shared data %s (at %s), which the install server does not say where to mount", m.Name, m.MountPoint)
		}
	}
	return nil
}

// firstBoot runs the FirstBoot scripts in the installed root. A script that fails (or
// cannot run) fails the node with its name and its output's tail; the ones after it do not
// run.
func (in *install) firstBoot(ctx context.Context) error {
	if in.kind == rootNFSPersistent && in.previous == in.resp.Archive.Digest {
		in.report(ctx, installplan.Event{Phase: installplan.PhaseConfiguring, Step: "scripts", Stage: StageFirstBoot,
			Message: "the persistent root ran its FirstBoot scripts at the first boot of " + in.previous})
		return nil
	}
	scripts, err := firstBootScripts(in.cfg.Target, in.plan.Scripts)
	if err != nil || len(scripts) == 0 {
		return err
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
		"FLARECAST_NODE=" + in.plan.Node, "FLARECAST_CLUSTER=" + in.plan.Cluster, "FLARECAST_GROUP=" + in.plan.Group,
		"FLARECAST_STAGE=" + StageFirstBoot}
	return withChroot(in.cfg.Target, func() error {
		for _, s := range scripts {
			name := "script " + s.Name
			in.report(ctx, installplan.Event{Phase: installplan.PhaseConfiguring, Step: name, Stage: StageFirstBoot, Message: "started"})
			start := time.Now()
			code, out, err := runScript(ctx, in.cfg.Target, s, env, in.cfg.ScriptTimeout)
			c := int32(code)
			if err != nil {
				return &StepError{Step: name, Err: fmt.Errorf("%w; output: %s", err, out)}
			}
			in.report(ctx, installplan.Event{Phase: installplan.PhaseConfiguring, Step: name, Stage: StageFirstBoot, ExitCode: &c, Output: out,
				Message: fmt.Sprintf("ended after %s with exit code %d", time.Since(start).Round(time.Millisecond), code)})
			if code != 0 {
				return &StepError{Step: name, Err: fmt.Errorf("FirstBoot script %s exited with %d; output: %s", s.Name, code, out)}
			}
		}
		return nil
	})
}

// finish unmounts the installed tree and reports the digest the node now holds.
func (in *install) finish(ctx context.Context) error {
	if err := in.unmountAll(); err != nil {
		return err
	}
	in.result.InstalledDigest = in.resp.Archive.Digest
	in.report(ctx, installplan.Event{Phase: installplan.PhaseRebooting, Step: "installed", InstalledDigest: in.resp.Archive.Digest,
		Message: fmt.Sprintf("archive %s installed and verified", in.resp.Archive.Name)})
	return nil
}
