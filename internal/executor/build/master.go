package build

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/tarball"
)

// Keys of what a build source records in the archive's config: the software it installed,
// as dpkg reports it in the build root, so that a later build can be compared with it.
const (
	InputBuildBase     = "flarecast.io/build-base"
	InputBuildPackages = "flarecast.io/build-packages"
	InputCustomized    = "flarecast.io/build-customized"
	// InputNotReproducible lists the files of the build root known to differ from build to
	// build (made at install time from random or the clock), so that two builds of the same
	// inputs are not expected to give one digest while they are there.
	InputNotReproducible = "flarecast.io/build-not-reproducible"
)

// Variable is a file of a build root known to differ between builds of the same inputs.
type Variable struct {
	Path string `json:"path"`
	Why  string `json:"why"`
}

// variables are the files that make a build root differ between builds, with why: made at
// install time by a package's maintainer script from random bytes or the clock.
var variables = []struct{ pattern, why string }{
	{"etc/ssh/ssh_host_*_key", "an SSH host key (openssh-server makes them at install: random, and every node installed from the archive would share it)"},
	{"etc/machine-id", "the machine id (random; an empty file lets each node make its own at first boot)"},
	{"var/lib/dbus/machine-id", "D-Bus's machine id (random)"},
	{"var/lib/systemd/random-seed", "systemd's random seed"},
	{"var/lib/systemd/credential.secret", "systemd's credential secret (random)"},
	{"etc/ssl/private/ssl-cert-snakeoil.key", "ssl-cert's snakeoil key (random)"},
	{"var/cache/man/index.db", "man-db's index (written with the time it was made)"},
}

// notReproducible names the variable files present in root.
func notReproducible(root string) []Variable {
	var out []Variable
	for _, v := range variables {
		matches, _ := filepath.Glob(filepath.Join(root, v.pattern))
		for _, m := range matches {
			if fi, err := os.Lstat(m); err != nil || (fi.Mode().IsRegular() && fi.Size() == 0) {
				continue // an empty machine-id is what makes each node make its own
			}
			rel, _ := filepath.Rel(root, m)
			out = append(out, Variable{Path: "/" + rel, Why: v.why})
		}
	}
	return out
}

// Master is a build source: a base root file system, packages and corrections installed into
// it with apt, a pause for a person to customize it, then the capture.
type Master struct {
	Base MasterBase `json:"base"`
	// Packages are installed in one apt transaction, each at its version when one is given.
	Packages []Package `json:"packages,omitempty"`
	// Corrections are installed after the packages, one apt transaction each, in order: a
	// package name, name=version, or name/suite.
	Corrections []string `json:"corrections,omitempty"`
	// Repositories are apt sources (one-line format) added while the build installs.
	Repositories []string `json:"repositories,omitempty"`
	// Pause waits, before the capture, until the executor resumes the build.
	Pause bool `json:"pause,omitempty"`
	// SourceDateEpoch is the build tools' SOURCE_DATE_EPOCH and every entry's time.
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
}

// MasterBase is exactly one of a rootfs tarball, an image, or a Debian suite.
type MasterBase struct {
	Rootfs *Rootfs `json:"rootfs,omitempty"`
	Image  *Image  `json:"image,omitempty"`
	Debian *Debian `json:"debian,omitempty"`
}

// Debian is a suite mmdebstrap installs from a mirror.
type Debian struct {
	Suite   string `json:"suite"`
	Mirror  string `json:"mirror"`
	Variant string `json:"variant,omitempty"`
}

// Package is a package to install, at Version when it is given.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Installed is one package dpkg reports installed in the build root.
type Installed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

// Build stages, as a build source's progress reports them.
const (
	StageBase      = "base"
	StageInstall   = "install"
	StageCustomize = "customize"
)

// ResumeFile is the file, in the build's --work-dir, whose creation ends a build's pause:
// the local executor makes it when the archive is annotated, a person in a Job's pod can.
const ResumeFile = "resume"

func (m *Master) validate() error {
	b := m.Base
	if n := btoi(b.Rootfs != nil) + btoi(b.Image != nil) + btoi(b.Debian != nil); n != 1 {
		return errors.New("a build source needs exactly one base: a rootfs, an image or a Debian suite")
	}
	if b.Rootfs != nil {
		if err := b.Rootfs.Digest.Validate(); err != nil {
			return fmt.Errorf("base rootfs digest %q: %w", b.Rootfs.Digest, err)
		}
	}
	if b.Debian != nil && (b.Debian.Suite == "" || b.Debian.Mirror == "") {
		return errors.New("a Debian base needs a suite and a mirror")
	}
	if m.SourceDateEpoch <= 0 {
		return errors.New("a build source needs a positive sourceDateEpoch")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildRoot makes the master system in work/root: the base, then the software, then (when
// asked) the wait for a person. It returns the root, ready to be packed; the root goes with
// the work directory, whatever becomes of the build.
func buildRoot(ctx context.Context, m *Master, arch string, lim Limits, work string, dockerConfig []byte, inputs map[string]string, progress func(Progress)) (*rootDir, error) {
	if !lim.AllowBuildSources {
		return nil, failure(ReasonSourceNotAllowed, 0, "build sources are not run by this manager: their packages' scripts run as root on the build host (start it with --allow-build-sources to allow them)")
	}
	if err := checkAptSources(m, lim); err != nil {
		return nil, err
	}
	r := &rootDir{dir: filepath.Join(work, "root")}
	root := r.dir
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	report := progressOf(progress, StageBase, 0)
	report(0)
	if err := makeBase(ctx, m, arch, lim, work, r, dockerConfig, inputs, progress); err != nil {
		return nil, err
	}
	progressOf(progress, StageInstall, 0)(0)
	if err := install(ctx, m, r, lim); err != nil {
		return nil, err
	}
	pkgs, err := installedPackages(ctx, r, m.SourceDateEpoch)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(pkgs) // plain strings: cannot fail
	inputs[InputBuildPackages] = string(b)
	if m.Pause {
		if err := pause(ctx, r, work, lim, progress); err != nil {
			return nil, err
		}
		inputs[InputCustomized] = "true"
	}
	if vs := notReproducible(root); len(vs) > 0 {
		b, _ := json.Marshal(vs) // plain strings: cannot fail
		inputs[InputNotReproducible] = string(b)
	}
	return r, nil
}

// rootDir is a build root: its directory, and the device nodes of its base that a user
// namespace could not make, extracted as stand-ins (empty files).
type rootDir struct {
	dir     string
	devices []tarball.Device
}

// source packs the root, the stand-ins as the device nodes they stand for: the archive is the
// one a build with the rights to mknod gives.
func (r *rootDir) source() tarball.Source { return tarball.DirSource(r.dir).WithDevices(r.devices) }

// inUserNamespace says whether this process runs in a user namespace other than the host's
// (a pod with hostUsers: false), where root may not make device nodes.
func inUserNamespace() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(b)), " ") != "0 0 4294967295"
}

// makeBase fills root with the base: a tarball or an image extracted, or a Debian suite.
func makeBase(ctx context.Context, m *Master, arch string, lim Limits, work string, r *rootDir, dockerConfig []byte, inputs map[string]string, progress func(Progress)) error {
	b, root := m.Base, r.dir
	var (
		src     io.Reader
		what    string
		cleanup = func() {}
		err     error
		guard   *stallGuard
	)
	switch {
	case b.Debian != nil:
		inputs[InputBuildBase] = "debian " + b.Debian.Suite + " " + b.Debian.Mirror
		if err := mmdebstrap(ctx, b.Debian, arch, root, m.SourceDateEpoch); err != nil {
			return err
		}
		// Where mmdebstrap could not make device nodes (root of a user namespace) it left
		// /dev out; completed, the root packs as the one mmdebstrap makes as root. Where it
		// could, its /dev is the root build's and stays as it made it.
		return r.completeDevWithoutMknod(work)
	case b.Image != nil:
		what = "image " + b.Image.Ref
		guard = newStallGuard(nil, lim)
		src, cleanup, err = openImage(ctx, b.Image, arch, lim, guard, work, dockerConfig, inputs)
		err = guard.failure(err, "base "+what)
		inputs[InputBuildBase] = what
	default:
		what = "rootfs " + b.Rootfs.URL
		inputs[InputRootfsURL], inputs[InputRootfsDigest] = b.Rootfs.URL, string(b.Rootfs.Digest)
		inputs[InputBuildBase] = what
		var f *os.File
		f, cleanup, err = openRootfs(ctx, b.Rootfs, lim, work, progress)
		src = f
	}
	if err != nil {
		return err
	}
	defer cleanup()
	rep, err := tarball.Extract(ctx, src, root, tarball.ExtractOptions{MaxBytes: lim.MaxSize,
		Progress: counting(progressOf(progress, StageBase, 0)), DeviceStandIns: inUserNamespace()})
	r.devices = rep.Devices
	if errors.Is(err, tarball.ErrTooLarge) {
		return failure(ReasonSourceTooLarge, 0, "base %s unpacks to more than the %s maxSize allows; stopped there", what, sizeOf(lim.MaxSize))
	}
	if guard != nil {
		// A registry that stalled mid-layer: its bound, not the extractor's "context canceled".
		err = guard.failure(err, "base "+what)
	}
	if err != nil {
		return fmt.Errorf("extract base %s: %w", what, err)
	}
	return nil
}

func counting(report func(int64)) func(int64) {
	var total int64
	return func(n int64) { total += n; report(total) }
}

// mmdebstrap installs a Debian suite into root (which must be empty) from the mirror.
func mmdebstrap(ctx context.Context, d *Debian, arch, root string, epoch int64) error {
	variant := d.Variant
	if variant == "" {
		variant = "minbase"
	}
	// The mirror is the spec's alone: the build host's apt sources are not the archive's.
	args := []string{"--variant=" + variant, "--architectures=" + arch, "--format=directory",
		d.Suite, root, "deb " + d.Mirror + " " + d.Suite + " main"}
	var out bytes.Buffer
	// In a PID namespace of its own: the apt and dpkg that mmdebstrap runs die with it when
	// the build is killed (kill -9 leaves no process group kill to run).
	cmd := command(ctx, epoch, "unshare", append([]string{"--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "mmdebstrap"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return toolFailure(ctx, "mmdebstrap "+d.Suite+" from "+d.Mirror, err, out.Bytes())
	}
	return nil
}

// HostTools are the programs a build source runs on its host (the manager's for the local
// executor, the build image's for a Job: the Dockerfile's builder stage installs them):
// mmdebstrap for a Debian base, unshare for the build root's namespaces, and, in those,
// sh, mount (the device nodes' binds) and chroot. apt and dpkg run in the build root, from
// its base (and from the host as what mmdebstrap runs).
var HostTools = []string{"mmdebstrap", "unshare", "sh", "mount", "chroot"}

// command runs a tool of the build: in its own process group (killed whole when ctx ends:
// apt's and dpkg's children too), dying with the build, with SOURCE_DATE_EPOCH and a fixed
// locale so that what it writes does not depend on the host.
func command(ctx context.Context, epoch int64, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "DEBIAN_FRONTEND=noninteractive",
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch, 10), "HOME=/root", "TMPDIR=/tmp"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// toolFailure says which tool failed and the end of what it said; a build stopped by its
// timeout says that instead (Run names the bound).
func toolFailure(ctx context.Context, what string, err error, out []byte) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	msg := strings.TrimSpace(string(out))
	if len(msg) > 1500 {
		msg = "…" + msg[len(msg)-1500:]
	}
	return failure(ReasonInstallFailed, 0, "%s failed (%v): %s", what, err, msg)
}

// ReasonInstallFailed: the base could not be made, or apt could not install the software
// (a package or version the repositories lack, a mirror that does not answer).
const ReasonInstallFailed = "InstallFailed"

// inRoot runs a shell script in root as its root directory, in mount and PID namespaces of
// its own: /proc is mounted for it there, and nothing it mounts outlives it on the host. The
// stand-ins of device nodes get the host's node of the same number bind-mounted over them
// there (a maintainer script's >/dev/null must not fill a file of the archive).
func inRoot(ctx context.Context, r *rootDir, epoch int64, script string) ([]byte, error) {
	cmd := command(ctx, epoch, "unshare", rootArgs(r, "/bin/sh", "-euc", script)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// rootArgs are unshare's arguments that run argv in r as inRoot says.
func rootArgs(r *rootDir, argv ...string) []string {
	root := r.dir
	args := []string{"--mount", "--pid", "--fork", "--kill-child", "--mount-proc=" + filepath.Join(root, "proc")}
	if binds := deviceBinds(r); len(binds) > 0 {
		// sh ROOT HOST1 STANDIN1 HOST2 STANDIN2… -- ARGV: the binds, then the chroot.
		args = append(args, "/bin/sh", "-euc", `root=$1; shift
while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done
shift; exec chroot "$root" "$@"`, "sh", root)
		args = append(append(args, binds...), "--")
	} else {
		args = append(args, "chroot", root)
	}
	return append(args, argv...)
}

// deviceBinds pairs each stand-in of r with the host's device node of the same path, type and
// number: the host path then the stand-in, for each. A stand-in the host has no such node for
// stays an empty file.
func deviceBinds(r *rootDir) []string {
	var out []string
	for _, d := range r.devices {
		host := "/" + d.Path
		var st unix.Stat_t
		if err := unix.Stat(host, &st); err != nil {
			continue
		}
		kind := uint32(unix.S_IFCHR)
		if d.Block {
			kind = unix.S_IFBLK
		}
		if st.Mode&unix.S_IFMT != kind || int64(unix.Major(st.Rdev)) != d.Major || int64(unix.Minor(st.Rdev)) != d.Minor {
			continue
		}
		out = append(out, host, filepath.Join(r.dir, d.Path))
	}
	return out
}

// install adds the repositories, installs the packages then each correction, and removes
// what the build itself left (its sources, the package lists and caches, the logs, which
// hold the build's time): what remains is what the packages made.
func install(ctx context.Context, m *Master, r *rootDir, lim Limits) error {
	root := r.dir
	if len(m.Packages) == 0 && len(m.Corrections) == 0 {
		return nil
	}
	var pkgs []string
	for _, p := range m.Packages {
		if p.Version != "" {
			pkgs = append(pkgs, p.Name+"="+p.Version)
		} else {
			pkgs = append(pkgs, p.Name)
		}
	}
	for _, s := range append(slices.Clone(pkgs), m.Corrections...) {
		if strings.HasPrefix(s, "-") || strings.ContainsAny(s, " \t\n'\"\\;&|$`<>") {
			return failure(ReasonInstallFailed, 0, "package %q: not a package name, name=version or name/suite", s)
		}
	}
	restore, err := prepareRoot(root, m.Repositories)
	if err != nil {
		return err
	}
	defer restore()
	apt := "apt-get -o Acquire::Languages=none -o APT::Install-Recommends=false -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -y"
	steps := []string{apt + " update"}
	if len(pkgs) > 0 {
		steps = append(steps, apt+" install "+strings.Join(pkgs, " "))
	}
	for _, c := range m.Corrections {
		steps = append(steps, apt+" install "+c)
	}
	for _, s := range steps {
		what := strings.TrimPrefix(s, apt+" ")
		var out []byte
		err := boundedRoot(ctx, root, lim.MaxSize, func(ctx context.Context) error {
			var err error
			out, err = inRoot(ctx, r, m.SourceDateEpoch, s)
			if err != nil {
				return toolFailure(ctx, "in the build root: "+what, err, out)
			}
			return nil
		})
		var big *rootTooLarge
		if errors.As(err, &big) {
			return failure(ReasonSourceTooLarge, big.size, "the build root grew to %s during %s, more than the %s maxSize allows; stopped there",
				sizeOf(big.size), what, sizeOf(lim.MaxSize))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Files the build puts in a root while it installs, restored (or removed) before the capture.
const (
	buildSources = "etc/apt/sources.list.d/flarecast-build.list"
	policyRcD    = "usr/sbin/policy-rc.d"
	resolvConf   = "etc/resolv.conf"
)

// prepareRoot adds the build's apt sources, forbids services from starting (a build root is
// no running system) and lends the host's resolver; the returned function undoes all of it and
// removes what apt and dpkg wrote that describes the build rather than the system.
func prepareRoot(root string, repos []string) (func(), error) {
	saved := map[string][]byte{}
	for _, p := range []string{policyRcD, resolvConf} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err == nil {
			saved[p] = b
		}
	}
	// A symlinked resolv.conf (systemd-resolved's) is replaced for the build, then restored.
	resolvLink, _ := os.Readlink(filepath.Join(root, resolvConf))
	restore := func() {
		for _, p := range []string{buildSources, policyRcD, resolvConf} {
			os.Remove(filepath.Join(root, p))
		}
		for p, b := range saved {
			os.WriteFile(filepath.Join(root, p), b, 0o644)
		}
		if resolvLink != "" {
			os.Symlink(resolvLink, filepath.Join(root, resolvConf))
		}
		if b, ok := saved[policyRcD]; ok {
			os.WriteFile(filepath.Join(root, policyRcD), b, 0o755)
		}
		cleanBuildTraces(root)
	}
	var lines strings.Builder
	for _, r := range repos {
		lines.WriteString(r + "\n")
	}
	if err := os.WriteFile(filepath.Join(root, buildSources), []byte(lines.String()), 0o644); err != nil {
		return nil, fmt.Errorf("build root: apt sources: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, policyRcD), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		restore()
		return nil, fmt.Errorf("build root: policy-rc.d: %w", err)
	}
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		os.Remove(filepath.Join(root, resolvConf))
		if err := os.WriteFile(filepath.Join(root, resolvConf), b, 0o644); err != nil {
			restore()
			return nil, fmt.Errorf("build root: resolv.conf: %w", err)
		}
	}
	return restore, nil
}

// cleanBuildTraces removes what differs between two builds of the same software (as
// mmdebstrap does when SOURCE_DATE_EPOCH is set): the package lists and downloaded packages,
// apt's binary caches, the logs of apt and dpkg, ldconfig's auxiliary cache.
func cleanBuildTraces(root string) {
	for _, pattern := range []string{
		"var/lib/apt/lists/*", "var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial/*",
		"var/cache/apt/*.bin", "var/log/apt/*", "var/log/dpkg.log", "var/log/alternatives.log",
		"var/cache/ldconfig/aux-cache", "var/lib/dpkg/*-old", "var/cache/debconf/*-old",
	} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			if filepath.Base(m) == "lock" || filepath.Base(m) == "partial" {
				continue
			}
			os.RemoveAll(m)
		}
	}
}

// installedPackages is what dpkg says is installed in root, sorted by name.
func installedPackages(ctx context.Context, r *rootDir, epoch int64) ([]Installed, error) {
	root := r.dir
	if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/status")); errors.Is(err, os.ErrNotExist) {
		return nil, nil // a base without dpkg installs nothing and says so
	}
	out, err := inRoot(ctx, r, epoch, `dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n'`)
	if err != nil {
		return nil, toolFailure(ctx, "dpkg-query in the build root", err, out)
	}
	var pkgs []Installed
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 4 || !strings.HasPrefix(f[0], "ii") {
			continue
		}
		pkgs = append(pkgs, Installed{Name: f[1], Version: f[2], Arch: f[3]})
	}
	slices.SortFunc(pkgs, func(a, b Installed) int { return strings.Compare(a.Name, b.Name) })
	return pkgs, nil
}

// devicesFile, beside a paused build's root, lists the root's device stand-ins, so that a
// shell opened in it (ShellCommand) sees the devices the build's own steps see.
const devicesFile = "devices.json"

// pauseReportEvery is how often a paused build says again that it waits: the Job executor's
// manager hears it (and a manager restarted meanwhile learns of the pause) and answers with
// the resume.
const pauseReportEvery = 2 * time.Second

// pause waits for the resume while what a person adds to the root is bounded by maxSize as
// apt's additions are: a root grown past it, while paused or when resumed, fails the build,
// whose root then goes with its work directory.
func pause(ctx context.Context, r *rootDir, work string, lim Limits, progress func(Progress)) error {
	if len(r.devices) > 0 {
		b, _ := json.Marshal(r.devices) // plain fields: cannot fail
		if err := os.WriteFile(filepath.Join(work, devicesFile), b, 0o600); err != nil {
			return fmt.Errorf("build root: %w", err)
		}
	}
	err := boundedRootEvery(ctx, r.dir, lim.MaxSize, pauseCheckEvery, func(ctx context.Context) error {
		return awaitResume(ctx, r.dir, work, progress)
	})
	var big *rootTooLarge
	if errors.As(err, &big) {
		return failure(ReasonSourceTooLarge, big.size, "the build root grew to %s during the customization pause, more than the %s maxSize allows; the build stopped and its root was removed",
			sizeOf(big.size), sizeOf(lim.MaxSize))
	}
	return err
}

// awaitResume reports the build root, again every pauseReportEvery, and waits until the
// resume file appears, which it removes.
func awaitResume(ctx context.Context, root, work string, progress func(Progress)) error {
	resume := filepath.Join(filepath.Dir(work), ResumeFile)
	var reported time.Time
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(resume); err == nil {
			// Taken: a build that fails after it leaves its work directory as it found it.
			os.Remove(resume)
			return nil
		}
		if progress != nil && time.Since(reported) >= pauseReportEvery {
			progress(Progress{Stage: StageCustomize, Root: root})
			reported = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for customization of %s: %w", root, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// ShellCommand is the command that runs argv (a login shell when empty) with root, a paused
// build's root, as its root directory, as the build's own steps run: mount and PID namespaces
// of its own with /proc mounted, and the host's device nodes bound over the stand-ins the build
// recorded beside the root. The caller sets its standard streams and environment.
func ShellCommand(ctx context.Context, root string, argv []string) (*exec.Cmd, error) {
	r := &rootDir{dir: filepath.Clean(root)}
	if fi, err := os.Stat(filepath.Join(r.dir, "proc")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is no build root (it has no /proc directory)", root)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(r.dir), devicesFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &r.devices); err != nil {
			return nil, fmt.Errorf("the device stand-ins of %s: %w", root, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("the device stand-ins of %s: %w", root, err)
	}
	if len(argv) == 0 {
		argv = []string{"/bin/sh", "-l"}
		if _, err := os.Stat(filepath.Join(r.dir, "bin/bash")); err == nil {
			argv = []string{"/bin/bash", "-l"}
		}
	}
	return exec.CommandContext(ctx, "unshare", rootArgs(r, argv...)...), nil
}
