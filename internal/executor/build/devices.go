package build

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/tarball"
)

// devEntry is one entry of a Debian base's /dev as mmdebstrap makes it.
type devEntry struct {
	path         string
	kind         uint32 // unix.S_IFDIR, S_IFCHR or S_IFLNK
	mode         uint32
	target       string // of a symbolic link
	major, minor uint32 // of a device node
}

// mmdebstrapDev is what mmdebstrap (its @devfiles, the same in 1.3.5 and the releases
// before) puts in /dev when it may make device nodes: as the host's root, and in every tar it
// writes. Root of a user namespace may not; mmdebstrap then makes none of them (it binds the
// host's nodes while it runs and removes them after), and an archive of that root would
// differ from the one a root build gives. All are owned by uid and gid 0.
// TestMmdebstrapDevIsTheRootBuiltBase compares this list with the root-built base's ./dev.
var mmdebstrapDev = []devEntry{
	{path: "dev", kind: unix.S_IFDIR, mode: 0o755},
	{path: "dev/console", kind: unix.S_IFCHR, mode: 0o666, major: 5, minor: 1},
	{path: "dev/fd", kind: unix.S_IFLNK, mode: 0o777, target: "/proc/self/fd"},
	{path: "dev/full", kind: unix.S_IFCHR, mode: 0o666, major: 1, minor: 7},
	{path: "dev/null", kind: unix.S_IFCHR, mode: 0o666, major: 1, minor: 3},
	{path: "dev/ptmx", kind: unix.S_IFCHR, mode: 0o666, major: 5, minor: 2},
	{path: "dev/pts", kind: unix.S_IFDIR, mode: 0o755},
	{path: "dev/random", kind: unix.S_IFCHR, mode: 0o666, major: 1, minor: 8},
	{path: "dev/shm", kind: unix.S_IFDIR, mode: 0o755},
	{path: "dev/stderr", kind: unix.S_IFLNK, mode: 0o777, target: "/proc/self/fd/2"},
	{path: "dev/stdin", kind: unix.S_IFLNK, mode: 0o777, target: "/proc/self/fd/0"},
	{path: "dev/stdout", kind: unix.S_IFLNK, mode: 0o777, target: "/proc/self/fd/1"},
	{path: "dev/tty", kind: unix.S_IFCHR, mode: 0o666, major: 5, minor: 0},
	{path: "dev/urandom", kind: unix.S_IFCHR, mode: 0o666, major: 1, minor: 9},
	{path: "dev/zero", kind: unix.S_IFCHR, mode: 0o666, major: 1, minor: 5},
}

// completeDev gives the root made by mmdebstrap the /dev entries mmdebstrap makes when it may
// make device nodes, where they are missing: the directories and symbolic links as they are,
// each device node as a stand-in (an empty file, recorded in r.devices) that the build's steps
// see with the host's node bound over it and that the capture packs as the node. An entry
// already there is kept as it is. The root then packs into the archive of the same base
// built as root.
func (r *rootDir) completeDev() error {
	for _, e := range mmdebstrapDev {
		p := filepath.Join(r.dir, e.path)
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		exists := err == nil
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("build root: /%s: %w", e.path, err)
		}
		switch {
		case e.kind == unix.S_IFDIR:
			if !exists {
				if err := unix.Mkdir(p, 0o700); err != nil {
					return fmt.Errorf("build root: /%s: %w", e.path, err)
				}
				if err := unix.Lchown(p, 0, 0); err != nil {
					return fmt.Errorf("build root: /%s: %w", e.path, err)
				}
				// Its mode set apart from mkdir's, which the umask narrows.
				if err := unix.Chmod(p, e.mode); err != nil {
					return fmt.Errorf("build root: /%s: %w", e.path, err)
				}
			} else if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return fmt.Errorf("build root: /%s is not a directory", e.path)
			}
		case exists:
			continue
		case e.kind == unix.S_IFLNK:
			if err := unix.Symlink(e.target, p); err != nil {
				return fmt.Errorf("build root: /%s: %w", e.path, err)
			}
			if err := unix.Lchown(p, 0, 0); err != nil {
				return fmt.Errorf("build root: /%s: %w", e.path, err)
			}
		default:
			d, err := standIn(p, e)
			if err != nil {
				return fmt.Errorf("build root: /%s: %w", e.path, err)
			}
			r.devices = append(r.devices, d)
		}
	}
	return nil
}

// completeDevWithoutMknod completes /dev (completeDev) when this process may not make device
// nodes, as mmdebstrap could not either; where it may, mmdebstrap made /dev itself and what it
// made is the root build's, kept as it is.
func (r *rootDir) completeDevWithoutMknod(work string) error {
	if canMknod(work) {
		return nil
	}
	return r.completeDev()
}

// canMknod says whether this process may make a device node in dir, as mmdebstrap asks
// itself before it fills /dev (its probe: a null device node in the target): root of a user
// namespace may not. The probe is removed.
func canMknod(dir string) bool {
	probe := filepath.Join(dir, ".mknod-probe")
	if err := unix.Mknod(probe, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))); err != nil {
		return false
	}
	unix.Unlink(probe)
	return true
}

// standIn makes the empty file that stands for the device node e at p, with the node's mode
// and owner, and returns it as the packer knows a stand-in: by its inode and its change time
// once its metadata is set, so that a file put in its place later is packed as what it is.
func standIn(p string, e devEntry) (tarball.Device, error) {
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return tarball.Device{}, err
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, 0, 0); err != nil {
		return tarball.Device{}, err
	}
	if err := unix.Fchmod(fd, e.mode); err != nil {
		return tarball.Device{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return tarball.Device{}, err
	}
	return tarball.Device{Path: e.path, Major: int64(e.major), Minor: int64(e.minor),
		Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim.Nano()}, nil
}
