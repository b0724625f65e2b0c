package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
)

// A Diskless node installs nothing on a disk: its root is assembled in the initramfs and
// the agent, as /init, switches into it (SwitchRoot). Which root, the plan and the plan
// response say:
//
//   - Root NFS, Writes Tmpfs (the default): the group's export mounted read-only, under an
//     overlay whose upper and work directories are on a tmpfs; the node's writes are lost
//     at reboot.
//   - Root NFS, Writes Persistent: the node's own read-write export (NFSWrites, a merged
//     view the install server keeps) mounted as the root itself, no overlay.
//   - Root RAM: a tmpfs into which the archive's sections are streamed and verified as a
//     disk install does.
//
// Each then gets the node's own files, the resident agent and the FirstBoot scripts, as a
// disk install does, and the node boots the root's own init.

// rootKind is where a node's root lives.
type rootKind int

const (
	rootDisks rootKind = iota
	rootNFSOverlay
	rootNFSPersistent
	rootRAM
)

func (k rootKind) String() string {
	return [...]string{"disks", "NFS root with a tmpfs overlay", "persistent NFS root", "RAM root"}[k]
}

// netRoot is what the installed record says of the root (empty for a disk install).
func (k rootKind) netRoot() string {
	switch k {
	case rootNFSOverlay, rootNFSPersistent:
		return installplan.RootNFS
	case rootRAM:
		return installplan.RootRAM
	}
	return ""
}

// decideRoot reads where the node's root lives from its plan and what the install server
// gave with it. A Diskless plan whose root is not served as it asks is refused here,
// before anything is mounted.
func decideRoot(resp installplan.PlanResponse) (rootKind, error) {
	p := resp.Plan
	if p.NodeType != "Diskless" {
		if p.Root != "" || p.Writes != "" {
			return 0, fmt.Errorf("the plan of a %s node gives root %q and writes %q, which only a Diskless node has", p.NodeType, p.Root, p.Writes)
		}
		return rootDisks, nil
	}
	if len(p.Disks) > 0 {
		return 0, fmt.Errorf("the plan of a Diskless node lists %d disks", len(p.Disks))
	}
	switch p.Root {
	case installplan.RootNFS, "":
		switch p.Writes {
		case installplan.WritesTmpfs, "":
			if err := servedDigest("NFS root", resp.NFSRoot, resp.Archive.Digest); err != nil {
				return 0, err
			}
			return rootNFSOverlay, nil
		case installplan.WritesPersistent:
			if err := servedDigest("node's read-write NFS export (writes Persistent)", resp.NFSWrites, resp.Archive.Digest); err != nil {
				return 0, err
			}
			return rootNFSPersistent, nil
		}
		return 0, fmt.Errorf("the plan's writes %q: want %s or %s", p.Writes, installplan.WritesTmpfs, installplan.WritesPersistent)
	case installplan.RootRAM:
		if p.Writes != "" && p.Writes != installplan.WritesTmpfs {
			return 0, fmt.Errorf("a RAM root keeps nothing across a reboot: writes %q cannot be honoured (want %s)", p.Writes, installplan.WritesTmpfs)
		}
		return rootRAM, nil
	}
	return 0, fmt.Errorf("the plan's root %q: want %s or %s", p.Root, installplan.RootNFS, installplan.RootRAM)
}

// servedDigest checks that an export is given and holds the archive the plan is of: a
// node never boots a tree of another digest than the one it reports.
func servedDigest(what string, r *installplan.NFSRoot, digest string) error {
	switch {
	case r == nil:
		return fmt.Errorf("the install server gives no %s for this Diskless node", what)
	case r.Server == "" || r.Port <= 0 || !strings.HasPrefix(r.Path, "/"):
		return fmt.Errorf("the install server gives the %s as %q: want IP:PORT:/PATH", what, r.String())
	case r.Digest != digest:
		return fmt.Errorf("the %s %s serves %s, but the archive of the plan is %s", what, r.String(), r.Digest, digest)
	}
	return nil
}

// NFSMounter mounts an NFSv3 export at a directory; the agent's own (KernelNFSMount)
// hands the kernel its text options. Tests give one that binds a directory instead.
type NFSMounter func(ctx context.Context, r installplan.NFSRoot, at string, readOnly bool) error

// NFSOptions are the kernel's mount options for an export of the install server: NFSv3
// over TCP, MOUNT on the NFS port over TCP (no portmapper), no lock manager and no NFSACL
// (the server has neither), and the server's address (no mount.nfs in the initramfs to
// resolve it).
func NFSOptions(r installplan.NFSRoot, readOnly bool) string {
	o := fmt.Sprintf("vers=3,proto=tcp,nolock,noacl,port=%d,mountport=%d,mountproto=tcp,addr=%s", r.Port, r.Port, r.Server)
	if readOnly {
		o = "ro," + o
	}
	return o
}

// KernelNFSMount mounts r at `at`, trying again for a minute: the link may take a moment
// to pass packets after its lease, and the export may be a moment from being served.
func KernelNFSMount(ctx context.Context, r installplan.NFSRoot, at string, readOnly bool) error {
	if _, err := netip.ParseAddr(r.Server); err != nil {
		return fmt.Errorf("NFS server %q is not an address (the initramfs resolves no names): %w", r.Server, err)
	}
	var flags uintptr
	if readOnly {
		flags = syscall.MS_RDONLY
	}
	src := r.Server + ":" + r.Path
	deadline := time.Now().Add(time.Minute)
	for {
		err := syscall.Mount(src, at, "nfs", flags, NFSOptions(r, readOnly))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("mount %s (NFSv3, %s) at %s: %w", src, NFSOptions(r, readOnly), at, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// mountAt mounts and records the mount, so that a failure unmounts it.
func (in *install) mountAt(src, at, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(src, at, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s, %s) at %s: %w", src, fstype, data, at, err)
	}
	in.mounted = append(in.mounted, at)
	return nil
}

func (in *install) mountNFS(ctx context.Context, r installplan.NFSRoot, at string, readOnly bool) error {
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	if err := in.cfg.MountNFS(ctx, r, at, readOnly); err != nil {
		return err
	}
	in.mounted = append(in.mounted, at)
	return nil
}

// nfsOverlayRoot mounts the group's export read-only and an overlay over it at the target,
// whose writes go to a tmpfs.
func (in *install) nfsOverlayRoot(ctx context.Context) error {
	lower := filepath.Join(in.cfg.LayerDir, "lower")
	rw := filepath.Join(in.cfg.LayerDir, "rw")
	if err := in.mountNFS(ctx, *in.resp.NFSRoot, lower, true); err != nil {
		return err
	}
	if err := in.mountAt("tmpfs", rw, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755"); err != nil {
		return err
	}
	upper, work := filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work)
	if err := in.mountAt("overlay", in.cfg.Target, "overlay", 0, opts); err != nil {
		return err
	}
	in.log.Info("NFS root mounted with a tmpfs overlay", "export", in.resp.NFSRoot.String(), "digest", in.resp.NFSRoot.Digest)
	return nil
}

// nfsPersistentRoot mounts the node's own read-write export as its root. What the root
// recorded before (a node that boots again) decides whether the FirstBoot scripts run.
func (in *install) nfsPersistentRoot(ctx context.Context) error {
	if err := in.mountNFS(ctx, *in.resp.NFSWrites, in.cfg.Target, false); err != nil {
		return err
	}
	in.previous, _ = InstalledDigest(in.cfg.Target)
	if in.previous != "" && in.previous != in.resp.Archive.Digest {
		// A new deployable under the node's kept writes: its stages run again.
		if err := os.RemoveAll(filepath.Join(in.cfg.Target, StageDir)); err != nil {
			return err
		}
	}
	in.log.Info("persistent NFS root mounted", "export", in.resp.NFSWrites.String(), "before", in.previous)
	return nil
}

// ramRoot mounts the tmpfs the sections are extracted into; its size bounds what they may
// expand to.
func (in *install) ramRoot(context.Context) error {
	size := in.cfg.RAMRootSize
	if size == 0 {
		mem, err := memTotal("/proc/meminfo")
		if err != nil {
			return err
		}
		size = ramRootSize(mem)
	}
	in.limit = size
	return in.mountAt("tmpfs", in.cfg.Target, "tmpfs", 0, fmt.Sprintf("mode=0755,size=%d", size))
}

// ramRootSize leaves the running system 512 MiB of the node's memory, and takes half of it
// at least (tmpfs's own default) on a small node.
func ramRootSize(mem int64) int64 {
	return max(mem/2, mem-512<<20)
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: MemTotal %q: %w", path, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("%s has no MemTotal", path)
}

// NetworkRoot is what the installed record at root says of a Diskless root (NFS or RAM),
// empty for a system installed on a disk. A node with a network root boots from the
// network every time: its resident agent has no next boot to set before a reinstall.
func NetworkRoot(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, InstalledRecord))
	if err != nil {
		return "", fmt.Errorf("this system was not installed by flarecast-agent: %w", err)
	}
	var rec installed
	if err := json.Unmarshal(b, &rec); err != nil {
		return "", fmt.Errorf("read %s: %w", InstalledRecord, err)
	}
	return rec.Root, nil
}

// keepsNothing is a root whose writes do not survive a reboot.
func (k rootKind) keepsNothing() bool { return k == rootNFSOverlay || k == rootRAM }

// disklessState readies the stage state of a root that keeps nothing: its next boot is a
// new root again, so the second reboot of reboots: Twice would never end; it is marked
// done, and the FirstBoot scripts' changes are what the foundation services start on.
func (in *install) disklessState() error {
	if !in.kind.keepsNothing() || !in.plan.DoubleReboot {
		return nil
	}
	dir := filepath.Join(in.cfg.Target, StageDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in.log.Info("a root that keeps nothing across a reboot: the second reboot is left out", "root", in.kind.String())
	return os.WriteFile(filepath.Join(dir, "second-boot"), []byte("left out: the "+in.kind.String()+" keeps nothing across a reboot\n"), 0o644)
}

// finishDiskless reports the digest the root holds; the caller switches into it.
func (in *install) finishDiskless(ctx context.Context) error {
	if _, err := resolveIn(in.cfg.Target, RootInit); err != nil {
		return fmt.Errorf("the root has no init to boot: %w", err)
	}
	in.result.InstalledDigest = in.resp.Archive.Digest
	in.result.Root = in.cfg.Target
	// The root stays mounted: it is the node's root once the caller switches into it.
	in.mounted = nil
	msg := fmt.Sprintf("archive %s ready as the node's %s; switching into it", in.resp.Archive.Name, in.kind)
	if in.kind.keepsNothing() && in.plan.DoubleReboot {
		msg += " (the second reboot is left out: the root keeps nothing across a reboot)"
	}
	in.report(ctx, installplan.Event{Phase: installplan.PhaseRebooting, Step: "switch root", InstalledDigest: in.resp.Archive.Digest, Message: msg})
	return nil
}
