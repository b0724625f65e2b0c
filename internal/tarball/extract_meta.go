package tarball

import (
	"archive/tar"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// restoreMeta sets owner, mode, xattrs and times, in that order: chown clears setuid bits and
// file capabilities, so it must come first.
func (x *extractor) restoreMeta(pfd int, base, name string, hdr *tar.Header) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if x.privileged {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			x.note(name, "owner", err)
		}
	} else if hdr.Uid != x.uid || hdr.Gid != x.gid {
		x.note(name, "owner", fmt.Errorf("%d:%d needs root", hdr.Uid, hdr.Gid))
	}
	if !isLink {
		mode := uint32(hdr.Mode & 0o7777)
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			x.note(name, "mode", err)
		} else if mode&0o6000 != 0 && !x.privileged {
			// The kernel silently drops setgid for a group the user is not in.
			if got := x.modeOf(pfd, base); got != mode {
				x.note(name, "mode", fmt.Errorf("wanted %04o, the system kept %04o", mode, got))
			}
		}
	}
	for _, r := range x.keptXattrs(name, hdr) {
		if err := unix.Lsetxattr(x.procPath(pfd, base), r.name, []byte(r.value), 0); err != nil {
			x.note(name, "xattr "+r.name, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if !hdr.AccessTime.IsZero() {
		ts[0] = unix.NsecToTimespec(hdr.AccessTime.UnixNano())
	}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		x.note(name, "times", err)
	}
	return nil
}

const (
	// maxXattrValue is the largest xattr value Linux accepts (XATTR_SIZE_MAX).
	maxXattrValue = 64 << 10
	// maxHeldXattrBytes bounds the xattr values held in memory: for directories until
	// finishDirs, for the headers of a TarSource until they are sorted.
	maxHeldXattrBytes = 64 << 20
)

var (
	// errNotKept explains an xattr outside the namespaces an archive carries (see KeepXattr).
	errNotKept       = errors.New("not one of the namespaces an archive carries (host state)")
	errXattrTooLarge = fmt.Errorf("value larger than the %d KiB Linux accepts", maxXattrValue>>10)
)

type xattr struct{ name, value string }

// keptXattrs returns the xattrs of hdr that can be restored, sorted by name, and notes the
// others: what Pack drops as host state is not taken from an archive either (a
// trusted.overlay.* record would change what an overlay mount over the tree shows), and a
// value no kernel accepts is not worth holding.
func (x *extractor) keptXattrs(name string, hdr *tar.Header) []xattr {
	var out []xattr
	for _, k := range slices.Sorted(maps.Keys(hdr.PAXRecords)) {
		attr, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		v := hdr.PAXRecords[k]
		switch {
		case !KeepXattr(attr):
			x.note(name, "xattr "+attr, errNotKept)
		case len(v) > maxXattrValue:
			x.note(name, "xattr "+attr, errXattrTooLarge)
		default:
			out = append(out, xattr{attr, v})
		}
	}
	return out
}

func (x *extractor) modeOf(pfd int, base string) uint32 {
	var st unix.Stat_t
	if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return 0
	}
	return st.Mode & 0o7777
}

// procPath names base inside the directory open as pfd without resolving any path component
// again, for system calls that take no directory descriptor.
func (x *extractor) procPath(pfd int, base string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
}

// finishDirs gives directories their mode, owner, xattrs and times, deepest first so that
// setting a child's time does not change its parent's afterwards.
func (x *extractor) finishDirs() error {
	slices.SortStableFunc(x.dirs, func(a, b *tar.Header) int { return -ComparePaths(a.Name, b.Name) })
	for _, hdr := range x.dirs {
		if hdr.Name == "." {
			if err := x.restoreMeta(x.rootFd, ".", ".", hdr); err != nil {
				return err
			}
			continue
		}
		pfd, base, err := x.parent(hdr.Name, false)
		if err != nil {
			return fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue // replaced by a later entry of another type
		}
		if err := x.restoreMeta(pfd, base, hdr.Name, hdr); err != nil {
			return err
		}
	}
	return nil
}
