package nfsroot

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	billy "github.com/go-git/go-billy/v5"
	nfs "github.com/willscott/go-nfs"
	nfsfile "github.com/willscott/go-nfs/file"
	"golang.org/x/sys/unix"
)

// The upper directory of a merged export records removals and opaque directories the way
// OCI image layers do (an image layer's whiteouts), which needs no privilege and no kernel
// overlayfs: ".wh.<name>" hides <name> of the lower tree, and ".wh..wh..opq" in a directory
// hides every lower entry below it. A name a node writes may therefore not start with
// ".wh.".
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// originXattr on an upper entry copied up from the lower tree holds the lower inode: a
	// handle a node took before the copy-up names the same file after it (and after a
	// restart, when the upper tree is indexed again).
	originXattr = "user.flarecast.origin"
)

var (
	errReservedName = fmt.Errorf("names starting with %q are the export's whiteouts: %w", whiteoutPrefix, fs.ErrPermission)
	// errCrossDevice is what overlayfs answers for the rename of a directory of the lower
	// tree: tools (mv) then copy it.
	errCrossDevice = &os.LinkError{Op: "rename", Err: syscall.EXDEV}
)

// layer says where a merged entry comes from.
type layer byte

const (
	layerLower layer = 'L'
	layerUpper layer = 'U'
)

// overlayFS is a read-write merged view of a lower tree (never written) and an upper
// directory that takes every write, like overlayfs with its upper directory on the install
// server's own disk (which overlayfs on a node cannot have: it refuses an NFS upper
// directory). A copy-up writes the whole copy under a temporary name in work and renames
// it into place, so a crash leaves either the lower file or its complete copy; a removal
// writes its whiteout before the upper entry goes, and an upper entry wins over a whiteout
// of its name, so a crash between the two leaves the entry as it was.
//
// With no lower tree, it is the upper directory served read-write (a shared data export).
type overlayFS struct {
	lower, upper, work string
	// readOnly refuses every change (go-nfs answers NFS3ERR_ROFS, seeing no write
	// capability).
	readOnly bool

	mu sync.Mutex // serialises changes: copy-ups and renames touch several names
	// ix maps handles to paths; shared with the export.
	ix *writableIndex
}

// entry is a merged path resolved to its layer.
type entry struct {
	layer layer
	real  string // the file on the install server's disk
	info  os.FileInfo
	// lowerVisible says whether the lower tree shows below this directory.
	lowerVisible bool
}

func clean(name string) (string, error) {
	p := path.Clean("/" + filepath.ToSlash(name))
	if p == "/" {
		return "", nil
	}
	return p[1:], nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// resolve finds the merged entry of p. An intermediate symbolic link is never followed
// (the node's kernel resolves links itself, one component at a time).
func (o *overlayFS) resolve(name string) (entry, error) {
	p, _ := clean(name)
	e := entry{layer: layerUpper, real: o.upper, lowerVisible: o.lower != ""}
	info, err := os.Lstat(o.upper)
	if err != nil {
		return entry{}, err
	}
	e.info = info
	if e.lowerVisible {
		if _, err := os.Lstat(filepath.Join(o.upper, opaqueMarker)); err == nil {
			e.lowerVisible = false
		}
	}
	comps := splitPath(p)
	for i, c := range comps {
		if !e.info.IsDir() {
			return entry{}, &fs.PathError{Op: "lstat", Path: name, Err: syscall.ENOTDIR}
		}
		rel := filepath.Join(comps[:i+1]...)
		if e.layer == layerUpper {
			up := filepath.Join(o.upper, rel)
			if info, err := os.Lstat(up); err == nil {
				lowerVisible := false
				if e.lowerVisible && info.IsDir() {
					if li, err := os.Lstat(filepath.Join(o.lower, rel)); err == nil && li.IsDir() {
						_, operr := os.Lstat(filepath.Join(up, opaqueMarker))
						lowerVisible = operr != nil
					}
				}
				e = entry{layer: layerUpper, real: up, info: info, lowerVisible: lowerVisible}
				continue
			} else if !errors.Is(err, fs.ErrNotExist) {
				return entry{}, err
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(up), whiteoutPrefix+c)); err == nil {
				return entry{}, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
			}
		}
		if !e.lowerVisible {
			return entry{}, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrNotExist}
		}
		low := filepath.Join(o.lower, rel)
		info, err := os.Lstat(low)
		if err != nil {
			return entry{}, err
		}
		e = entry{layer: layerLower, real: low, info: info, lowerVisible: true}
	}
	return e, nil
}

// info is an entry's FileInfo as sent: Unix mode bits, and the file id of its handle (so
// that a copy-up never changes the id a client knows the file by: Linux's client refuses a
// file whose id changes under its handle).
func (o *overlayFS) info(e entry) os.FileInfo {
	return fileInfo{FileInfo: unixMode(e.info), id: o.fileID(e)}
}

func (o *overlayFS) fileID(e entry) uint64 {
	st := e.info.Sys().(*syscall.Stat_t)
	if e.layer == layerLower {
		return st.Ino
	}
	if origin, ok := readOrigin(e.real); ok {
		return origin
	}
	// Upper-only inodes are told apart from lower ones by the top bit.
	return st.Ino | 1<<63
}

type fileInfo struct {
	os.FileInfo
	id uint64
}

func (f fileInfo) Sys() any {
	st, ok := f.FileInfo.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return &nfsfile.FileInfo{Nlink: uint32(st.Nlink), UID: st.Uid, GID: st.Gid,
		Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), Fileid: f.id}
}

func readOrigin(p string) (uint64, bool) {
	var b [8]byte
	n, err := unix.Lgetxattr(p, originXattr, b[:])
	if err != nil || n != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[:]), true
}

// Capabilities: read, write, seek and truncate.
func (o *overlayFS) Capabilities() billy.Capability {
	if o.readOnly {
		return billy.ReadCapability | billy.SeekCapability
	}
	return billy.WriteCapability | billy.ReadCapability | billy.ReadAndWriteCapability | billy.SeekCapability | billy.TruncateCapability
}

func (o *overlayFS) Join(elem ...string) string { return path.Join(elem...) }
func (o *overlayFS) Root() string               { return "/" }

func (o *overlayFS) Lstat(name string) (os.FileInfo, error) {
	e, err := o.resolve(name)
	if err != nil {
		return nil, err
	}
	return o.info(e), nil
}

// Stat does not follow a final symbolic link either: the server never follows links (an
// absolute one names the node's file, not the server's).
func (o *overlayFS) Stat(name string) (os.FileInfo, error) { return o.Lstat(name) }

func (o *overlayFS) Readlink(name string) (string, error) {
	e, err := o.resolve(name)
	if err != nil {
		return "", err
	}
	return os.Readlink(e.real)
}

func (o *overlayFS) ReadDir(name string) ([]os.FileInfo, error) {
	e, err := o.resolve(name)
	if err != nil {
		return nil, err
	}
	if !e.info.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	p, _ := clean(name)
	var out []os.FileInfo
	seen := map[string]bool{}
	if e.layer == layerUpper {
		des, err := os.ReadDir(e.real)
		if err != nil {
			return nil, err
		}
		for _, d := range des {
			n := d.Name()
			if strings.HasPrefix(n, whiteoutPrefix) {
				seen[strings.TrimPrefix(n, whiteoutPrefix)] = true
				continue
			}
			seen[n] = true
			info, err := d.Info()
			if err != nil {
				continue // gone meanwhile
			}
			out = append(out, o.info(entry{layer: layerUpper, real: filepath.Join(e.real, n), info: info}))
		}
	}
	if e.lowerVisible {
		des, err := os.ReadDir(filepath.Join(o.lower, filepath.FromSlash(p)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, d := range des {
			if seen[d.Name()] {
				continue
			}
			info, err := d.Info()
			if err != nil {
				continue
			}
			out = append(out, o.info(entry{layer: layerLower, info: info}))
		}
	}
	slices.SortFunc(out, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (o *overlayFS) Open(name string) (billy.File, error) { return o.OpenFile(name, os.O_RDONLY, 0) }

func (o *overlayFS) Create(name string) (billy.File, error) {
	return o.openFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666, nil)
}

func (o *overlayFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	return o.openFile(name, flag, perm, nil)
}

// openFile opens name; a file it creates belongs to own (nil: the server's user).
func (o *overlayFS) openFile(name string, flag int, perm os.FileMode, own *owner) (billy.File, error) {
	p, _ := clean(name)
	writes := flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0
	if !writes {
		e, err := o.resolve(p)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(e.real, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		return &file{File: f, name: p}, nil
	}
	if o.readOnly {
		return nil, errReadOnly
	}
	if err := checkName(p); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.resolve(p)
	switch {
	case err == nil:
		if flag&os.O_EXCL != 0 && flag&os.O_CREATE != 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
		}
		if e.layer == layerLower {
			if err := o.copyUp(p); err != nil {
				return nil, err
			}
		}
		f, err := os.OpenFile(filepath.Join(o.upper, filepath.FromSlash(p)), (flag&^(os.O_CREATE|os.O_EXCL))|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return nil, err
		}
		return &file{File: f, name: p}, nil
	case !errors.Is(err, fs.ErrNotExist) || flag&os.O_CREATE == 0:
		return nil, err
	}
	if err := o.copyUpParent(p); err != nil {
		return nil, err
	}
	up := filepath.Join(o.upper, filepath.FromSlash(p))
	tmp := filepath.Join(o.work, "create-"+randomName())
	f, err := os.OpenFile(tmp, flag|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return nil, err
	}
	if err := place(tmp, up, own, false); err != nil {
		f.Close()
		removeAllQuiet(tmp)
		return nil, err
	}
	o.dropWhiteout(p)
	return &file{File: f, name: p}, nil
}

func checkName(p string) error {
	if strings.HasPrefix(path.Base(p), whiteoutPrefix) {
		return &fs.PathError{Op: "create", Path: p, Err: errReservedName}
	}
	return nil
}

// dropWhiteout removes the whiteout of a name that has an upper entry now (it is shadowed
// by the entry already: removing it only tidies up).
func (o *overlayFS) dropWhiteout(p string) {
	wh := filepath.Join(o.upper, filepath.FromSlash(path.Dir(p)), whiteoutPrefix+path.Base(p))
	if err := os.Remove(wh); err == nil {
		syncDir(filepath.Dir(wh))
	}
}

func (o *overlayFS) copyUpParent(p string) error {
	dir := path.Dir(p)
	if dir == "." {
		return nil
	}
	return o.copyUp(dir)
}

// copyUp makes p an upper entry, its parents first: the copy is made whole under a
// temporary name in work, synced, and renamed into place.
func (o *overlayFS) copyUp(p string) error {
	e, err := o.resolve(p)
	if err != nil {
		return err
	}
	if e.layer == layerUpper {
		return nil
	}
	if err := o.copyUpParent(p); err != nil {
		return err
	}
	tmp := filepath.Join(o.work, "copyup-"+randomName())
	if err := copyEntry(e.real, tmp, e.info); err != nil {
		removeAllQuiet(tmp)
		return fmt.Errorf("copy up %s: %w", p, err)
	}
	dst := filepath.Join(o.upper, filepath.FromSlash(p))
	if err := os.Rename(tmp, dst); err != nil {
		removeAllQuiet(tmp)
		return fmt.Errorf("copy up %s: %w", p, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("copy up %s: %w", p, err)
	}
	st := e.info.Sys().(*syscall.Stat_t)
	o.ix.movedUp(st.Ino, p)
	return nil
}

// copyEntry copies one entry (a directory without its content) with its owner, mode, times
// and extended attributes, and records its lower inode as its origin.
func copyEntry(src, dst string, info os.FileInfo) error {
	st := info.Sys().(*syscall.Stat_t)
	mode := st.Mode & 0o7777
	switch info.Mode().Type() {
	case fs.ModeDir:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
	case fs.ModeSymlink:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case 0:
		if err := copyFileData(src, dst); err != nil {
			return err
		}
	default: // devices, fifos, sockets
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
	}
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
		return err
	}
	if info.Mode().Type() != fs.ModeSymlink {
		if err := unix.Chmod(dst, mode); err != nil {
			return err
		}
		copyXattrs(src, dst)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], st.Ino)
		if err := unix.Lsetxattr(dst, originXattr, b[:], 0); err != nil {
			return fmt.Errorf("record the origin of %s: %w", dst, err)
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func copyFileData(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyXattrs copies what extended attributes it can (file capabilities, ACLs): one the
// server may not set here is left out rather than failing the node's write.
func copyXattrs(src, dst string) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(src, buf)
	if err != nil || n <= 0 {
		return
	}
	val := make([]byte, 64<<10)
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" || name == originXattr {
			continue
		}
		m, err := unix.Lgetxattr(src, name, val)
		if err != nil {
			continue
		}
		_ = unix.Lsetxattr(dst, name, val[:m], 0)
	}
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func removeAllQuiet(p string) { _ = os.RemoveAll(p) }

// lowerHas reports whether the lower tree shows an entry at p (its parent's lower part is
// visible and holds it).
func (o *overlayFS) lowerHas(p string) bool {
	if o.lower == "" || p == "" {
		return false
	}
	parent, err := o.resolve(path.Dir(p))
	if err != nil || !parent.lowerVisible {
		return false
	}
	_, err = os.Lstat(filepath.Join(o.lower, filepath.FromSlash(p)))
	return err == nil
}

func (o *overlayFS) whiteout(p string) error {
	wh := filepath.Join(o.upper, filepath.FromSlash(path.Dir(p)), whiteoutPrefix+path.Base(p))
	f, err := os.OpenFile(wh, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("whiteout %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(wh))
}

func (o *overlayFS) Remove(name string) error {
	if o.readOnly {
		return errReadOnly
	}
	p, _ := clean(name)
	if p == "" {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrPermission}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.resolve(p)
	if err != nil {
		return err
	}
	if e.info.IsDir() {
		kids, err := o.ReadDir(p)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			return &fs.PathError{Op: "rmdir", Path: name, Err: syscall.ENOTEMPTY}
		}
	}
	if o.lowerHas(p) {
		if err := o.copyUpParent(p); err != nil {
			return err
		}
		if err := o.whiteout(p); err != nil {
			return err
		}
	}
	if e.layer == layerLower {
		return nil
	}
	if !e.info.IsDir() {
		origin, fromLower := readOrigin(e.real)
		if err := os.Remove(e.real); err != nil {
			return err
		}
		o.relinked(p, e.info, origin, fromLower)
		return syncDir(filepath.Dir(e.real))
	}
	// An upper directory holds only whiteouts now: it leaves in one rename, so a crash
	// never shows it with some of its whiteouts gone (and lower entries back).
	trash := filepath.Join(o.work, "removed-"+randomName())
	if err := os.Rename(e.real, trash); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(e.real)); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

func (o *overlayFS) Rename(from, to string) error {
	if o.readOnly {
		return errReadOnly
	}
	fp, _ := clean(from)
	tp, _ := clean(to)
	if fp == "" || tp == "" {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrPermission}
	}
	if err := checkName(tp); err != nil {
		return err
	}
	if fp == tp {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.resolve(fp)
	if err != nil {
		return err
	}
	if e.info.IsDir() && (e.layer == layerLower || e.lowerVisible || o.lowerHas(fp)) {
		return errCrossDevice
	}
	dst, derr := o.resolve(tp)
	if derr == nil && dst.info.IsDir() {
		if !e.info.IsDir() {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.EISDIR}
		}
		kids, err := o.ReadDir(tp)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.ENOTEMPTY}
		}
	}
	fromLower := o.lowerHas(fp)
	if err := o.copyUp(fp); err != nil {
		return err
	}
	if err := o.copyUpParent(tp); err != nil {
		return err
	}
	src := filepath.Join(o.upper, filepath.FromSlash(fp))
	target := filepath.Join(o.upper, filepath.FromSlash(tp))
	if e.info.IsDir() && o.lowerHas(tp) {
		// The lower directory at the target must not show through the one moved there.
		if err := touch(filepath.Join(src, opaqueMarker)); err != nil {
			return err
		}
	}
	if derr == nil && dst.info.IsDir() && dst.layer == layerUpper {
		// An empty upper directory (whiteouts only) is replaced; rename(2) wants it empty.
		trash := filepath.Join(o.work, "removed-"+randomName())
		if err := os.Rename(target, trash); err != nil {
			return err
		}
		defer os.RemoveAll(trash)
	}
	if err := os.Rename(src, target); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return err
	}
	o.dropWhiteout(tp)
	o.ix.renamed(fp, tp)
	if fromLower {
		// After the rename, not before: a crash in between shows the old file again at the
		// old name besides the new one, and loses nothing.
		return o.whiteout(fp)
	}
	return syncDir(filepath.Dir(src))
}

func touch(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func (o *overlayFS) MkdirAll(name string, perm os.FileMode) error {
	return o.mkdirAll(name, perm, nil)
}

func (o *overlayFS) mkdirAll(name string, perm os.FileMode, own *owner) error {
	if o.readOnly {
		return errReadOnly
	}
	p, _ := clean(name)
	comps := splitPath(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range comps {
		sub := strings.Join(comps[:i+1], "/")
		e, err := o.resolve(sub)
		if err == nil {
			if !e.info.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: sub, Err: syscall.ENOTDIR}
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := checkName(sub); err != nil {
			return err
		}
		if err := o.copyUpParent(sub); err != nil {
			return err
		}
		if err := o.mkdir(sub, perm, own); err != nil {
			return err
		}
	}
	return nil
}

// mkdir makes a new directory whole in work (opaque when a lower one of its name was
// removed: its old entries must not come back) and renames it into place.
func (o *overlayFS) mkdir(p string, perm os.FileMode, own *owner) error {
	tmp := filepath.Join(o.work, "mkdir-"+randomName())
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	if o.lower != "" {
		if _, err := os.Lstat(filepath.Join(o.lower, filepath.FromSlash(p))); err == nil {
			if err := touch(filepath.Join(tmp, opaqueMarker)); err != nil {
				removeAllQuiet(tmp)
				return err
			}
		}
	}
	if err := os.Chmod(tmp, perm&os.ModePerm); err != nil {
		removeAllQuiet(tmp)
		return err
	}
	dst := filepath.Join(o.upper, filepath.FromSlash(p))
	if err := place(tmp, dst, own, true); err != nil {
		removeAllQuiet(tmp)
		return err
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	o.dropWhiteout(p)
	return nil
}

func (o *overlayFS) Symlink(target, link string) error { return o.symlink(target, link, nil) }

func (o *overlayFS) symlink(target, link string, own *owner) error {
	return o.newEntry("symlink", link, own, func(tmp string) error { return os.Symlink(target, tmp) })
}

// newEntry makes the entry name, which must not exist, in the upper directory: mk creates
// it at a temporary name in work, and place moves it there with its owner (op names the
// call in errors and the temporary name).
func (o *overlayFS) newEntry(op, name string, own *owner, mk func(tmp string) error) error {
	if o.readOnly {
		return errReadOnly
	}
	p, _ := clean(name)
	if err := checkName(p); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.resolve(p); err == nil {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrExist}
	}
	if err := o.copyUpParent(p); err != nil {
		return err
	}
	up := filepath.Join(o.upper, filepath.FromSlash(p))
	tmp := filepath.Join(o.work, op+"-"+randomName())
	if err := mk(tmp); err != nil {
		return err
	}
	if err := place(tmp, up, own, false); err != nil {
		removeAllQuiet(tmp)
		return err
	}
	o.dropWhiteout(p)
	return syncDir(filepath.Dir(up))
}

func (o *overlayFS) TempFile(string, string) (billy.File, error) {
	return nil, errors.New("nfs export: temporary files are not offered")
}

// Chroot is refused: a node mounts a merged export at its root only.
func (o *overlayFS) Chroot(string) (billy.Filesystem, error) {
	return nil, errors.New("nfs export: a merged export is mounted at its root only")
}

// Chmod, Lchown, Chown and Chtimes (billy.Change) copy the entry up first.

func (o *overlayFS) change(name string, f func(real string) error) error {
	if o.readOnly {
		return errReadOnly
	}
	p, _ := clean(name)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.copyUp(p); err != nil {
		return err
	}
	return f(filepath.Join(o.upper, filepath.FromSlash(p)))
}

// Chmod of a symbolic link changes nothing (Linux has no mode for a link, and chmod(2)
// would follow it to a file of the install server).
func (o *overlayFS) Chmod(name string, mode os.FileMode) error {
	if e, err := o.resolve(name); err == nil && e.info.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	return o.change(name, func(real string) error { return unix.Chmod(real, unixBits(mode)) })
}

func (o *overlayFS) Lchown(name string, uid, gid int) error {
	return o.change(name, func(real string) error { return os.Lchown(real, uid, gid) })
}

func (o *overlayFS) Chown(name string, uid, gid int) error { return o.Lchown(name, uid, gid) }

func (o *overlayFS) Chtimes(name string, atime, mtime time.Time) error {
	return o.change(name, func(real string) error {
		ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, real, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// unixBits turns a mode as Go keeps it, or as raw Unix bits, into the bits chmod(2) takes.
func unixBits(m os.FileMode) uint32 {
	out := uint32(m & 0o7777)
	if m&os.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// Mknod, Mkfifo and Socket make special files in the upper directory (nfs.UnixChange).
func (o *overlayFS) Mknod(name string, mode, major, minor uint32) error {
	return o.special(name, mode, int(unix.Mkdev(major, minor)), nil)
}

func (o *overlayFS) Mkfifo(name string, mode uint32) error {
	return o.special(name, unix.S_IFIFO|(mode&0o7777), 0, nil)
}

func (o *overlayFS) Socket(name string) error {
	return o.special(name, unix.S_IFSOCK|0o755, 0, nil)
}

func (o *overlayFS) special(name string, mode uint32, dev int, own *owner) error {
	return o.newEntry("mknod", name, own, func(tmp string) error { return unix.Mknod(tmp, mode, dev) })
}

// Link makes a hard link in the upper directory (nfs.UnixChange; go-nfs decodes LINK as
// RFC 1813 has it since third_party/go-nfs's patch). A file of the lower tree is copied up
// first: both names are then one upper inode, whose origin keeps the handle and file id
// the node knew the file by.
func (o *overlayFS) Link(from, to string) error {
	if o.readOnly {
		return errReadOnly
	}
	fp, _ := clean(from)
	tp, _ := clean(to)
	if err := checkName(tp); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.resolve(fp)
	if err != nil {
		return err
	}
	if e.info.IsDir() {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: syscall.EPERM}
	}
	if _, err := o.resolve(tp); err == nil {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: syscall.EEXIST}
	}
	if err := o.copyUp(fp); err != nil {
		return err
	}
	if err := o.copyUpParent(tp); err != nil {
		return err
	}
	up := filepath.Join(o.upper, filepath.FromSlash(tp))
	if err := os.Link(filepath.Join(o.upper, filepath.FromSlash(fp)), up); err != nil {
		return err
	}
	o.dropWhiteout(tp)
	return syncDir(filepath.Dir(up))
}

// relinked points the index at another name of a hard-linked upper file whose indexed
// name p went away, so that the node's handle of the file stays good.
func (o *overlayFS) relinked(p string, info os.FileInfo, origin uint64, fromLower bool) {
	st := info.Sys().(*syscall.Stat_t)
	if info.IsDir() || st.Nlink < 2 {
		return
	}
	_ = filepath.WalkDir(o.upper, func(q string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), whiteoutPrefix) {
			return nil
		}
		qi, err := d.Info()
		if err != nil || qi.Sys().(*syscall.Stat_t).Ino != st.Ino {
			return nil
		}
		rel, _ := filepath.Rel(o.upper, q)
		rel = filepath.ToSlash(rel)
		if rel == p {
			return nil
		}
		if fromLower {
			o.ix.movedUp(origin, rel)
		} else {
			o.ix.saw(layerUpper, st.Ino, rel)
		}
		return filepath.SkipAll
	})
}

// file is an open file of the merged view, named by its path in the export.
type file struct {
	*os.File
	name string
}

func (f *file) Name() string { return f.name }
func (f *file) Lock() error  { return unix.Flock(int(f.Fd()), unix.LOCK_EX) }
func (f *file) Unlock() error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// owner is whom a new object belongs to: the caller of an AUTH_UNIX call.
type owner struct{ uid, gid int }

// callerFS is the overlay as one caller makes new objects in it (go-nfs's CallerScoped:
// CREATE, MKDIR, SYMLINK and MKNOD go through it). Everything else is the overlay's.
type callerFS struct {
	*overlayFS
	own owner
}

// AsCaller implements nfs.CallerScoped. A call without AUTH_UNIX (AUTH_NONE, or a
// credential that does not decode) never gets here: what it makes is the server's user's,
// root, as a root file system's early boot (which makes files as root) needs; the export
// trusts its node and checks no permission, so refusing such calls would protect nothing.
func (o *overlayFS) AsCaller(a nfs.AuthUnix) any {
	return &callerFS{overlayFS: o, own: owner{uid: int(a.UID), gid: int(a.GID)}}
}

func (c *callerFS) Create(name string) (billy.File, error) {
	return c.openFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666, &c.own)
}

func (c *callerFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	return c.openFile(name, flag, perm, &c.own)
}

func (c *callerFS) MkdirAll(name string, perm os.FileMode) error {
	return c.mkdirAll(name, perm, &c.own)
}

func (c *callerFS) Symlink(target, link string) error { return c.symlink(target, link, &c.own) }

func (c *callerFS) Mknod(name string, mode, major, minor uint32) error {
	return c.special(name, mode, int(unix.Mkdev(major, minor)), &c.own)
}

func (c *callerFS) Mkfifo(name string, mode uint32) error {
	return c.special(name, unix.S_IFIFO|(mode&0o7777), 0, &c.own)
}

func (c *callerFS) Socket(name string) error {
	return c.special(name, unix.S_IFSOCK|0o755, 0, &c.own)
}

// place gives tmp, a new object made in work, its owner as Linux would (own's user, or the
// server's; the group of its directory when that is setgid, own's or the server's
// otherwise; a new directory in a setgid one setgid too) and renames it to up. It is made
// in work and given its owner there, so a crash never leaves it in place with the wrong
// one: the next start empties work.
func place(tmp, up string, own *owner, dir bool) error {
	var parent unix.Stat_t
	if err := unix.Stat(filepath.Dir(up), &parent); err != nil {
		return err
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if own != nil {
		uid, gid = own.uid, own.gid
	}
	setgid := parent.Mode&unix.S_ISGID != 0
	if setgid {
		gid = int(parent.Gid)
	}
	if err := os.Lchown(tmp, uid, gid); err != nil && os.Geteuid() == 0 {
		return fmt.Errorf("give %s to %d:%d: %w", up, uid, gid, err)
	}
	if dir && setgid {
		var st unix.Stat_t
		if err := unix.Lstat(tmp, &st); err != nil {
			return err
		}
		if err := unix.Chmod(tmp, st.Mode&0o7777|unix.S_ISGID); err != nil {
			return err
		}
	}
	return os.Rename(tmp, up)
}
