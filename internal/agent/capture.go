package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/tarball"
)

// OwnFiles are what the agent writes into an installed root that is the node's own or
// flarecast's, as capture exclude patterns (relative to the root): the node's host name,
// hosts, fstab and network configuration, the resident agent, its units, its configuration
// (which holds the node's token) and its state. A capture leaves them out, whatever the
// install server asks.
var OwnFiles = []string{
	"etc/hostname", "etc/hosts", "etc/fstab",
	"etc/systemd/network/10-flarecast-*", IfupdownFile,
	"etc/flarecast", "var/lib/flarecast", "usr/lib/flarecast",
	"etc/systemd/system/flarecast-*", "etc/systemd/system/*.wants/flarecast-*",
}

// Capturer is the agent API side of a capture; *agentapi.Client is one.
type Capturer interface {
	Capture(ctx context.Context, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error)
	CaptureURL(archive string) string
}

// CaptureConfig is one capture of the node's root.
type CaptureConfig struct {
	Server   Server
	Capturer Capturer
	// Root is the root to capture: / on a node, a directory for a simulated one.
	Root string
	// Mountinfo lists the mounts (/proc/self/mountinfo): the mount points below Root are
	// named to the install server, whose archive's inputs list them.
	Mountinfo string
	// ProgressEvery is the least time between two progress reports (5 s by default).
	ProgressEvery time.Duration
	// Digest is what the node runs, for the Running reports.
	Digest string
}

// Capture streams the node's root to the install server as a tar in canonical order, so
// that the server packs it as it comes: one file system (a directory mounted from another is
// sent as its empty mount point), the server's exclusions and the agent's own files left
// out, xattrs (capabilities, ACLs), owners and hard links kept. The tar is plain: the server
// compresses it once, deterministically. It reports Running with step "capture" and the bytes
// sent as it goes, and the end.
func Capture(ctx context.Context, cfg CaptureConfig, c installplan.Capture) (installplan.CaptureResult, error) {
	var none installplan.CaptureResult
	if cfg.Capturer == nil {
		return none, errors.New("capture: this agent's server client cannot upload")
	}
	if want := cfg.Capturer.CaptureURL(c.Archive); c.URL != "" && c.URL != want {
		// The token goes only to the server the agent was given, never to a URL a plan names.
		return none, fmt.Errorf("capture of %s: the plan names %s, not this node's install server (%s): refused", c.Archive, c.URL, want)
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 5 * time.Second
	}
	exclude := installplan.MergeExclude(installplan.CaptureExclude, OwnFiles, c.Exclude)
	mounts, err := mountsBelow(cfg.Mountinfo, cfg.Root)
	if err != nil {
		return none, err
	}
	mounts = namedMounts(mounts, exclude)
	report := func(msg string, n int64) {
		ev := installplan.Event{Phase: installplan.PhaseRunning, Step: "capture", InstalledDigest: cfg.Digest, Bytes: n, Message: msg}
		_ = cfg.Server.Report(ctx, ev) // a lost progress report is not worth stopping for
	}
	report(fmt.Sprintf("capture of the root into FlashArchive %s started (%d exclusions)", c.Archive, len(exclude)), 0)
	pr, pw := io.Pipe()
	packed := make(chan struct{})
	var sent atomic.Int64
	last := time.Now()
	go func() {
		defer close(packed)
		st, err := tarball.Pack(ctx, tarball.DirSource(cfg.Root), pw, tarball.PackOptions{
			Compression: tarball.Plain, OneFileSystem: true, PreserveTimes: true,
			Exclude: func(name string) bool { return installplan.CaptureExcluded(exclude, name) },
			Progress: func(n int64) {
				done := sent.Add(n)
				if time.Since(last) >= cfg.ProgressEvery {
					last = time.Now()
					report(fmt.Sprintf("capturing into FlashArchive %s", c.Archive), done)
				}
			},
		})
		if err == nil && len(st.MountPoints) > 0 {
			// Not in the header, a mount the walk met that mountinfo did not list still shows.
			report(fmt.Sprintf("left the mount points %s empty", strings.Join(st.MountPoints, ", ")), sent.Load())
		}
		pw.CloseWithError(err)
	}()
	res, err := cfg.Capturer.Capture(ctx, c.Archive, pr, mounts)
	// An upload that ended early stops the walk at its next write.
	pr.CloseWithError(errors.New("upload ended"))
	<-packed
	if err != nil {
		report("capture failed: "+err.Error(), sent.Load())
		return none, err
	}
	report(fmt.Sprintf("captured into FlashArchive %s: %s, %d entries, %d bytes of tar", c.Archive, res.Digest, res.Entries, res.TarBytes), sent.Load())
	return res, nil
}

// maxMountsHeader is what the mount points header may hold: the install server refuses more.
const maxMountsHeader = 16<<10 - 1024

// namedMounts are the mount points worth naming to the install server: those whose contents
// no exclusion already leaves out (/proc, /sys/fs/cgroup …), as many as the header holds.
func namedMounts(mounts, exclude []string) []string {
	var out []string
	size := 0
	for _, m := range mounts {
		if installplan.CaptureExcluded(exclude, m+"/x") {
			continue
		}
		if size += len(m) + 1; size > maxMountsHeader {
			break
		}
		out = append(out, m)
	}
	return out
}

// mountsBelow lists the mount points strictly below root in a mountinfo file (relative to
// root, sorted); no file lists none.
func mountsBelow(mountinfo, root string) ([]string, error) {
	if mountinfo == "" {
		return nil, nil
	}
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("capture: list mounts: %w", err)
	}
	defer f.Close()
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		rel, err := filepath.Rel(root, mp)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		out = append(out, filepath.ToSlash(rel))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("capture: read %s: %w", mountinfo, err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
