package tarball

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// openDir is an open directory of the extraction, by its clean relative path.
type openDir struct {
	path string
	fd   int
}

// truncateOpen closes the open directories from depth n on.
func (x *extractor) truncateOpen(n int) {
	for _, d := range x.open[n:] {
		unix.Close(d.fd)
	}
	x.open = x.open[:n]
}

func (x *extractor) dropCache() { x.truncateOpen(0) }

// parent opens (or reuses) the directory that holds name and returns it with name's last
// component. Missing directories are created when create is set. A component that is a symlink
// or not a directory is refused: writing through it could leave the tree.
func (x *extractor) parent(name string, create bool) (int, string, error) {
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	if dir == "" {
		return x.rootFd, base, nil
	}
	comps := strings.Split(dir, "/")
	// Keep the open directories that are a prefix of dir; open the rest below them.
	keep := 0
	for keep < len(x.open) {
		p := x.open[keep].path
		if len(p) > len(dir) || dir[:len(p)] != p || (len(p) < len(dir) && dir[len(p)] != '/') {
			break
		}
		keep++
	}
	x.truncateOpen(keep)
	fd := x.rootFd
	if keep > 0 {
		fd = x.open[keep-1].fd
	}
	for i := keep; i < len(comps); i++ {
		walked := strings.Join(comps[:i+1], "/")
		next, err := unix.Openat(fd, comps[i], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		made := false
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, comps[i], 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				made = err == nil
				next, err = unix.Openat(fd, comps[i], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if err != nil {
			return -1, "", x.componentError(walked, err)
		}
		// A parent the archive does not list is 0755 whatever the umask (an entry for it,
		// later in the archive, sets its own mode at the end).
		if made {
			if err := unix.Fchmod(next, 0o755); err != nil {
				unix.Close(next)
				return -1, "", fmt.Errorf("chmod %s: %w", walked, err)
			}
		}
		x.open = append(x.open, openDir{path: walked, fd: next})
		fd = next
	}
	return fd, base, nil
}

func (x *extractor) componentError(comp string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(x.rootFd, comp, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return fmt.Errorf("%s is a symlink; refusing to write through it", comp)
		}
		return fmt.Errorf("%s is not a directory", comp)
	}
	return fmt.Errorf("open %s: %w", comp, err)
}

// clear removes what is at base, unless both it and the new entry are directories. A non-empty
// directory is never removed. pfd comes from parent, which leaves x.open holding exactly the
// ancestors of base: a removed directory is never among them, so they all stay valid (closing
// them here would leave pfd dangling, or numbered like whatever the process opens next).
func (x *extractor) clear(pfd int, base string, newIsDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat existing: %w", err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && newIsDir {
		return nil
	}
	flags := 0
	if isDir {
		flags = unix.AT_REMOVEDIR
	}
	if err := unix.Unlinkat(pfd, base, flags); err != nil {
		return fmt.Errorf("replace existing entry: %w", err)
	}
	return nil
}
