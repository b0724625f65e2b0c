package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"syscall"
)

// RootInit is the init a Diskless root boots (systemd-sysv's link on Debian).
const RootInit = "/sbin/init"

// SwitchRoot makes root the root file system and execs its init, as the initramfs's init
// (PID 1) only: the kernel's file systems (/dev, /proc, /sys, /run, with what is mounted
// under them: the NFS root's layers are in /run) move into the root, then busybox
// switch_root empties the initramfs (its memory goes back to the node), moves root onto /
// and execs the init. It returns only on a failure before the exec; the caller then still
// has the initramfs, and its shell.
func SwitchRoot(root string) error {
	if os.Getpid() != 1 {
		return errors.New("switch root: only the initramfs's init (process 1) switches into a new root")
	}
	if _, err := resolveIn(root, RootInit); err != nil {
		return fmt.Errorf("switch root: the root has no init: %w", err)
	}
	sw, err := exec.LookPath("switch_root")
	if err != nil {
		return fmt.Errorf("switch root: %w (busybox's switch_root)", err)
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run"} {
		at := filepath.Join(root, d)
		if err := os.MkdirAll(at, 0o755); err != nil {
			return fmt.Errorf("switch root: %w", err)
		}
		if err := syscall.Mount(d, at, "", syscall.MS_MOVE, ""); err != nil {
			return fmt.Errorf("switch root: move %s into the root: %w", d, err)
		}
	}
	// The initramfs's /tmp is its own: nothing of it goes into the root.
	_ = syscall.Unmount("/tmp", syscall.MNT_DETACH)
	syscall.Sync()
	return syscall.Exec(sw, []string{"switch_root", root, RootInit}, os.Environ())
}

// resolveIn finds name in the tree at root as that tree's own processes would: absolute
// links are read from root, not from the initramfs (Debian's /sbin/init is a link to
// /lib/systemd/systemd, under a /sbin that links to usr/sbin). It returns the host path of
// the regular, executable file it leads to.
func resolveIn(root, name string) (string, error) {
	p := path.Clean("/" + name)
	for hops := 0; hops < 40; hops++ {
		// Walk component by component, so that a link in a directory on the way is
		// resolved in the root too.
		parts := splitPath(p)
		cur := "/"
		restart := false
		for i, part := range parts {
			next := path.Join(cur, part)
			fi, err := os.Lstat(filepath.Join(root, next))
			if err != nil {
				return "", fmt.Errorf("%s: %w", name, err)
			}
			if fi.Mode()&os.ModeSymlink != 0 {
				target, err := os.Readlink(filepath.Join(root, next))
				if err != nil {
					return "", err
				}
				if !path.IsAbs(target) {
					target = path.Join(cur, target)
				}
				p = path.Join(append([]string{path.Clean(target)}, parts[i+1:]...)...)
				restart = true
				break
			}
			cur = next
		}
		if restart {
			continue
		}
		fi, err := os.Stat(filepath.Join(root, cur))
		if err != nil {
			return "", err
		}
		if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s (%s in the root) is not an executable file", name, cur)
		}
		return filepath.Join(root, cur), nil
	}
	return "", fmt.Errorf("%s: too many symbolic links", name)
}

func splitPath(p string) []string {
	var out []string
	for p != "/" && p != "" {
		out = append([]string{path.Base(p)}, out...)
		p = path.Dir(p)
	}
	return out
}
