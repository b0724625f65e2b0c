package tarball

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// xattrPrefix is the PAX record prefix GNU tar, bsdtar and Go agree on for extended attributes.
const xattrPrefix = "SCHILY.xattr."

// RootName is the name of the entry for the packed directory itself.
const RootName = "./"

// KeepXattr reports whether an extended attribute belongs in an archive. Capabilities and ACLs
// change what the installed system does; user.* is the caller's own metadata. SELinux labels
// and trusted.* describe the build host, not the image, and would make the bytes depend on it.
func KeepXattr(name string) bool {
	switch name {
	case "security.capability", "system.posix_acl_access", "system.posix_acl_default":
		return true
	}
	return strings.HasPrefix(name, "user.") && len(name) > len("user.")
}

// ComparePaths orders two cleaned relative paths the way entries appear in an archive: byte-wise,
// except that '/' sorts before every other byte, so a directory's whole subtree comes before its
// next sibling (the order of GNU tar --sort=name). It returns -1, 0 or +1.
func ComparePaths(a, b string) int {
	a, b = strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/")
	if a == "." {
		a = ""
	}
	if b == "." {
		b = ""
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// CleanName turns an entry name into the canonical relative form: no leading "/" or "./",
// no "." or empty components, no trailing slash ("." for the root). It refuses names that climb
// out with "..": an archive path is always inside the tree.
func CleanName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name %q contains NUL", name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("name %q contains \"..\"", name)
		}
	}
	c := path.Clean("/" + name)
	if c == "/" {
		return ".", nil
	}
	return c[1:], nil
}

// Normalize rewrites hdr in place into the canonical form every entry of an archive has, so that
// equal trees give equal bytes. epoch is the modification time to use (seconds since 1970)
// unless preserveTimes, in which case the header's own time is kept. It refuses entry types that
// do not belong in a root file system image (GNU sparse and multi-volume headers, for example).
func Normalize(hdr *tar.Header, epoch int64, preserveTimes bool) error {
	if hdr.Typeflag == tar.TypeRegA {
		hdr.Typeflag = tar.TypeReg
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
	default:
		return fmt.Errorf("normalize %q: unsupported entry type %q", hdr.Name, hdr.Typeflag)
	}
	name, err := CleanName(hdr.Name)
	if err != nil {
		return fmt.Errorf("normalize: %w", err)
	}
	switch {
	case name == ".":
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("normalize %q: the root must be a directory", hdr.Name)
		}
		name = RootName
	case hdr.Typeflag == tar.TypeDir:
		name += "/"
	}
	hdr.Name = name

	switch hdr.Typeflag {
	case tar.TypeLink:
		target, err := CleanName(hdr.Linkname)
		if err != nil || target == "." {
			return fmt.Errorf("normalize %q: bad hard link target %q", hdr.Name, hdr.Linkname)
		}
		hdr.Linkname = target
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return fmt.Errorf("normalize %q: empty symlink target", hdr.Name)
		}
	default:
		hdr.Linkname = ""
	}
	if hdr.Typeflag != tar.TypeReg {
		hdr.Size = 0
	}
	if hdr.Typeflag != tar.TypeChar && hdr.Typeflag != tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = 0, 0
	}

	hdr.Mode &= 0o7777
	hdr.Uname, hdr.Gname = "", ""
	if preserveTimes {
		if hdr.ModTime.IsZero() {
			hdr.ModTime = time.Unix(0, 0)
		}
		hdr.ModTime = time.Unix(0, hdr.ModTime.UnixNano()).UTC()
	} else {
		hdr.ModTime = time.Unix(epoch, 0).UTC()
	}
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	hdr.Format = tar.FormatPAX

	records := make(map[string]string)
	// Readers of old archives fill the deprecated Xattrs field; keep those values as records.
	for k, v := range hdr.Xattrs {
		if KeepXattr(k) {
			records[xattrPrefix+k] = v
		}
	}
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, xattrPrefix); ok && KeepXattr(x) {
			records[k] = v
		}
	}
	for k, v := range records {
		// No file system holds such a value: it can only come from a made-up tar, whose
		// headers a TarSource keeps in memory until it has sorted them.
		if len(v) > maxXattrValue {
			return fmt.Errorf("normalize %q: xattr %s of %d bytes, more than the %d Linux allows", hdr.Name, strings.TrimPrefix(k, xattrPrefix), len(v), maxXattrValue)
		}
	}
	hdr.Xattrs = nil
	hdr.PAXRecords = nil
	// A hard link shares the file's inode; its xattrs are recorded once, with the file.
	if len(records) > 0 && hdr.Typeflag != tar.TypeLink {
		hdr.PAXRecords = records
	}
	return nil
}
