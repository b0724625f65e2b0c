package nfsroot

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	billy "github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	nfs "github.com/willscott/go-nfs"
)

// Export is one tree served read-only at a mount path.
type Export struct {
	// Path is what a node mounts (/flarecast/<group> or /flarecast/<digest>, say).
	Path string
	// Dir is the tree: one file system, made once and not changed while it is served.
	Dir string
	// Version tells apart trees served at one path over time (the install server gives the
	// archive's digest): it is part of the export id every handle carries, so that a handle
	// of a replaced tree is stale, never the same inode number of another file of the new one.
	// Empty, the id is the path's alone.
	Version string
	// Upper, when set, makes the export a read-write merged view: reads come from Dir
	// (never written), writes go to Upper, with Work (on Upper's file system) for copies
	// being made. Dir empty, Upper alone is served read-write.
	Upper, Work string
	// ReadOnly serves a merged export without writes (read-only shared data, which the
	// site's operator fills on the install server).
	ReadOnly bool
	// Clients, when set, are the only addresses that may mount the export; another gets
	// MNT3ERR_ACCES.
	Clients []netip.Addr
}

// Option sets how a Server runs.
type Option func(*Server)

// WithRefused has New leave out a read-write export it cannot open, telling f why, instead of
// failing whole.
func WithRefused(f func(path string, err error)) Option {
	return func(s *Server) { s.onRefused = f }
}

// Served reports whether the server serves an export at path.
func (s *Server) Served(path string) bool {
	_, ok := s.byPath[path]
	return ok
}

// WithHandleKey keys the MAC of the handles of merged exports; the same key across restarts
// keeps those handles good. A server with a merged export needs one.
func WithHandleKey(key []byte) Option {
	return func(s *Server) { s.handleKey = append([]byte(nil), key...) }
}

// Server serves a set of exports.
type Server struct {
	byPath    map[string]*export
	byID      map[uint64]*export
	handleKey []byte
	onRefused func(path string, err error)
	// merged finds the export of a merged view handed out.
	merged map[*overlayFS]*export

	mu sync.Mutex
	// mounts are the file systems handed out for mounts of a directory below an export's
	// root: their handles are the export's, with the directory's path in front.
	mounts map[billy.Filesystem]mount
}

type mount struct {
	x      *export
	prefix []string
}

type export struct {
	Export
	id  uint64
	fs  *readOnlyFS
	dev uint64
	// paths maps an inode to one path of it, as components from the root.
	paths map[uint64][]string
	// merged is the read-write view of a merged export (Upper set); nil for a read-only one.
	merged *overlayFS
}

// handleSize is the export id and the inode.
const handleSize = 16

// New opens the exports: it indexes every tree by inode, so handles can be resolved after a
// restart. A tree that crosses into another file system is refused: inodes would not name
// one file.
func New(exports []Export, opts ...Option) (*Server, error) {
	s := &Server{byPath: map[string]*export{}, byID: map[uint64]*export{}, mounts: map[billy.Filesystem]mount{},
		merged: map[*overlayFS]*export{}}
	for _, o := range opts {
		o(s)
	}
	// A group's tree is the lower tree of each of its nodes' exports: indexed once.
	indexes := map[string]*export{}
	for _, e := range exports {
		if e.Upper != "" && len(s.handleKey) == 0 {
			return nil, fmt.Errorf("nfs export %s: a read-write export needs the server's handle key", e.Path)
		}
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path {
			return nil, fmt.Errorf("nfs export %q: the mount path must be absolute and clean", e.Path)
		}
		if _, dup := s.byPath[e.Path]; dup {
			return nil, fmt.Errorf("nfs export %s: exported twice", e.Path)
		}
		x, err := openExport(e, indexes)
		if err != nil && e.Upper != "" && s.onRefused != nil {
			// One node's directory that cannot be opened must not take every other
			// export (the group's roots among them) down with it.
			s.onRefused(e.Path, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if x.merged != nil {
			s.merged[x.merged] = x
		}
		if other, clash := s.byID[x.id]; clash {
			return nil, fmt.Errorf("nfs exports %s and %s have the same id: rename one", e.Path, other.Path)
		}
		s.byPath[e.Path], s.byID[x.id] = x, x
	}
	return s, nil
}

func openExport(e Export, indexes map[string]*export) (*export, error) {
	if e.Upper == "" {
		x, err := open(e)
		if err == nil {
			indexes[x.Dir] = x
		}
		return x, err
	}
	x := &export{Export: e, id: exportID(e)}
	var lower map[uint64][]string
	if e.Dir != "" {
		dir, err := filepath.Abs(e.Dir)
		if err != nil {
			return nil, fmt.Errorf("nfs export %s: %w", e.Path, err)
		}
		ro, ok := indexes[dir]
		if !ok {
			if ro, err = open(Export{Path: e.Path, Dir: dir}); err != nil {
				return nil, err
			}
			indexes[dir] = ro
		}
		x.Dir, lower = dir, ro.paths
	}
	if e.Work == "" {
		return nil, fmt.Errorf("nfs export %s: a read-write export needs a work directory", e.Path)
	}
	if err := prepareUpper(e.Upper, e.Work); err != nil {
		return nil, fmt.Errorf("nfs export %s: %w", e.Path, err)
	}
	if x.Dir != "" {
		if err := adoptRoot(x.Dir, e.Upper); err != nil {
			return nil, fmt.Errorf("nfs export %s: %w", e.Path, err)
		}
	}
	ix, err := newWritableIndex(lower, e.Upper)
	if err != nil {
		return nil, fmt.Errorf("nfs export %s: index %s: %w", e.Path, e.Upper, err)
	}
	x.merged = &overlayFS{lower: x.Dir, upper: e.Upper, work: e.Work, ix: ix, readOnly: e.ReadOnly}
	return x, nil
}

// adoptRoot gives a new upper directory the lower root's owner, mode and times, and the
// lower root's inode as its origin: the node sees its root directory as the tree has it,
// under the same handle.
func adoptRoot(lower, upper string) error {
	if _, ok := readOrigin(upper); ok {
		return nil
	}
	info, err := os.Lstat(lower)
	if err != nil {
		return err
	}
	st := info.Sys().(*syscall.Stat_t)
	if err := os.Lchown(upper, int(st.Uid), int(st.Gid)); err != nil && os.Geteuid() == 0 {
		return err
	}
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, upper, ts, 0); err != nil {
		return err
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], st.Ino)
	return unix.Lsetxattr(upper, originXattr, b[:], 0)
}

func exportID(e Export) uint64 {
	id := "flarecast nfs export v1\x00" + e.Path
	if e.Version != "" {
		id += "\x00" + e.Version
	}
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}

func open(e Export) (*export, error) {
	root, err := filepath.Abs(e.Dir)
	if err != nil {
		return nil, fmt.Errorf("nfs export %s: %w", e.Path, err)
	}
	st, err := os.Lstat(root)
	if err != nil {
		return nil, fmt.Errorf("nfs export %s: %w", e.Path, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("nfs export %s: %s is not a directory", e.Path, root)
	}
	x := &export{Export: Export{Path: e.Path, Dir: root, Version: e.Version, Clients: e.Clients}, id: exportID(e),
		dev: uint64(st.Sys().(*syscall.Stat_t).Dev), paths: map[uint64][]string{}}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sys := info.Sys().(*syscall.Stat_t)
		if uint64(sys.Dev) != x.dev {
			return fmt.Errorf("%s is on another file system than the export's root", p)
		}
		if _, seen := x.paths[sys.Ino]; !seen { // a hard link: its first path names it
			rel, _ := filepath.Rel(root, p)
			x.paths[sys.Ino] = components(rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nfs export %s: index %s: %w", e.Path, root, err)
	}
	x.fs = &readOnlyFS{Filesystem: osfs.New(root, osfs.WithBoundOS())}
	return x, nil
}

func components(rel string) []string {
	if rel == "." || rel == "" {
		return []string{}
	}
	return strings.Split(filepath.ToSlash(rel), "/")
}

// Files is how many files (inodes) the exports hold.
func (s *Server) Files() int {
	n := 0
	for _, x := range s.byPath {
		n += len(x.paths)
	}
	return n
}

// Serve answers NFSv3 and MOUNT on ln (one port for both: a node mounts with
// port=P,mountport=P) until ctx ends. Then it closes ln and every connection it accepted:
// go-nfs would leave a connection open with no one writing its replies, and a client would
// wait for its timeout (a minute) instead of reconnecting at once to the next server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &nfs.Server{Handler: &handler{s}, Context: ctx}
	// A fixed write verifier: nothing is written, and clients need not see a new server.
	copy(srv.ID[:], "flarecst")
	tl := &trackingListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		tl.closeAll()
	}()
	err := srv.Serve(tl)
	if ctx.Err() != nil {
		<-stopped
		return nil
	}
	return err
}

// trackingListener remembers the connections it accepted, to close them with it.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = map[net.Conn]struct{}{}
	l.mu.Unlock()
	l.Listener.Close()
	for c := range conns {
		c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// handler is the nfs.Handler of a Server.
type handler struct{ s *Server }

func (h *handler) Mount(_ context.Context, conn net.Conn, req nfs.MountRequest) (nfs.MountStatus, billy.Filesystem, []nfs.AuthFlavor) {
	auth := []nfs.AuthFlavor{nfs.AuthFlavorNull, nfs.AuthFlavorUnix}
	want := path.Clean("/" + string(req.Dirpath))
	// The export itself, or a directory below it (as clients that mount the directory of
	// the file they want do), never one reached through a symbolic link.
	for p := want; ; p = path.Dir(p) {
		if x, ok := h.s.byPath[p]; ok {
			if !x.allowed(conn) {
				return nfs.MountStatusErrAcces, nil, nil
			}
			if x.merged != nil {
				if p == want {
					return nfs.MountStatusOk, x.merged, auth
				}
				rel := strings.TrimPrefix(want, strings.TrimSuffix(p, "/")+"/")
				if e, err := x.merged.resolve(rel); err != nil || !e.info.IsDir() {
					return nfs.MountStatusErrNoEnt, nil, nil
				}
				return nfs.MountStatusOk, &mergedSub{overlayFS: x.merged, prefix: splitPath(rel)}, auth
			}
			if p == want {
				h.s.remember(x.fs, x, nil)
				return nfs.MountStatusOk, x.fs, auth
			}
			rel := strings.TrimPrefix(want, strings.TrimSuffix(p, "/")+"/")
			info, err := x.fs.Lstat(rel)
			if err != nil || !info.IsDir() {
				return nfs.MountStatusErrNoEnt, nil, nil
			}
			sub, err := x.fs.Chroot(rel)
			if err != nil {
				return nfs.MountStatusErrNoEnt, nil, nil
			}
			h.s.remember(sub, x, components(rel))
			return nfs.MountStatusOk, sub, auth
		}
		if p == "/" {
			return nfs.MountStatusErrNoEnt, nil, nil
		}
	}
}

func (s *Server) remember(f billy.Filesystem, x *export, prefix []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mounts) > 4096 {
		// Handles never need these (they name the export's root file system): only the
		// mount's own root handle does, made right after this.
		clear(s.mounts)
	}
	s.mounts[f] = mount{x: x, prefix: prefix}
}

// Change is the merged view of a read-write export; nil (read-only) for the others.
func (h *handler) Change(f billy.Filesystem) billy.Change {
	if o, ok := f.(*overlayFS); ok && !o.readOnly {
		return o
	}
	return nil
}

func (h *handler) FSStat(_ context.Context, f billy.Filesystem, st *nfs.FSStat) error {
	if o, ok := f.(*overlayFS); ok {
		var sfs syscall.Statfs_t
		if err := syscall.Statfs(o.upper, &sfs); err != nil {
			return err
		}
		bs := uint64(sfs.Bsize)
		st.TotalSize, st.FreeSize, st.AvailableSize = sfs.Blocks*bs, sfs.Bfree*bs, sfs.Bavail*bs
		st.TotalFiles, st.FreeFiles, st.AvailableFiles = sfs.Files, sfs.Ffree, sfs.Ffree
		return nil
	}
	x := h.exportOf(f)
	if x == nil {
		return &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusStale}
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(x.Dir, &sfs); err != nil {
		return err
	}
	bs := uint64(sfs.Bsize)
	st.TotalSize, st.FreeSize, st.AvailableSize = sfs.Blocks*bs, 0, 0
	st.TotalFiles, st.FreeFiles, st.AvailableFiles = uint64(len(x.paths)), 0, 0
	return nil
}

func (h *handler) exportOf(f billy.Filesystem) *export {
	x, _ := h.mountOf(f)
	return x
}

// mountOf returns the export of a file system handed out, and the path below the export's
// root it starts at.
func (h *handler) mountOf(f billy.Filesystem) (*export, []string) {
	for _, x := range h.s.byPath {
		if x.fs == f {
			return x, nil
		}
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	m, ok := h.s.mounts[f]
	if !ok {
		return nil, nil
	}
	return m.x, m.prefix
}

// ToHandle is the export id and the file's inode.
func (h *handler) ToHandle(f billy.Filesystem, p []string) []byte {
	switch o := f.(type) {
	case *overlayFS:
		return h.mergedToHandle(o, p)
	case *mergedSub:
		return h.mergedToHandle(o.overlayFS, append(slices.Clone(o.prefix), p...))
	}
	fh := make([]byte, handleSize)
	x, prefix := h.mountOf(f)
	if x == nil {
		return fh
	}
	binary.BigEndian.PutUint64(fh, x.id)
	full := append(append([]string{x.Dir}, prefix...), p...)
	info, err := os.Lstat(filepath.Join(full...))
	if err != nil {
		// Gone (it was never in the index's tree): a handle that resolves to nothing.
		binary.BigEndian.PutUint64(fh[8:], math.MaxUint64)
		return fh
	}
	binary.BigEndian.PutUint64(fh[8:], info.Sys().(*syscall.Stat_t).Ino)
	return fh
}

// FromHandle finds the file of a handle in the index; a handle of another server or of a
// tree since replaced is stale.
func (h *handler) FromHandle(fh []byte) (billy.Filesystem, []string, error) {
	if len(fh) == mergedHandleSize {
		return h.mergedFromHandle(fh)
	}
	if len(fh) != handleSize {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusBadHandle}
	}
	x, ok := h.s.byID[binary.BigEndian.Uint64(fh)]
	if !ok {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusStale}
	}
	p, ok := x.paths[binary.BigEndian.Uint64(fh[8:])]
	if !ok {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusStale}
	}
	return x.fs, append([]string(nil), p...), nil
}

func (h *handler) InvalidateHandle(billy.Filesystem, []byte) error { return nil }

// HandleLimit: every handle stays good while the tree is exported.
func (h *handler) HandleLimit() int { return math.MaxInt32 }

// readOnlyFS is a bound OS file system that says it cannot write (go-nfs then answers every
// change with NFS3ERR_ROFS) and refuses writes itself too, and that reports Unix mode bits.
type readOnlyFS struct{ billy.Filesystem }

var errReadOnly = errors.New("read-only export")

func (r *readOnlyFS) Capabilities() billy.Capability {
	return billy.ReadCapability | billy.SeekCapability
}

func (r *readOnlyFS) Create(string) (billy.File, error) { return nil, errReadOnly }
func (r *readOnlyFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, errReadOnly
	}
	return r.Filesystem.OpenFile(name, flag, perm)
}
func (r *readOnlyFS) Rename(string, string) error                 { return errReadOnly }
func (r *readOnlyFS) Remove(string) error                         { return errReadOnly }
func (r *readOnlyFS) TempFile(string, string) (billy.File, error) { return nil, errReadOnly }
func (r *readOnlyFS) MkdirAll(string, os.FileMode) error          { return errReadOnly }
func (r *readOnlyFS) Symlink(string, string) error                { return errReadOnly }

func (r *readOnlyFS) Stat(name string) (os.FileInfo, error) {
	fi, err := r.Filesystem.Stat(name)
	return unixMode(fi), err
}

func (r *readOnlyFS) Lstat(name string) (os.FileInfo, error) {
	fi, err := r.Filesystem.Lstat(name)
	return unixMode(fi), err
}

func (r *readOnlyFS) ReadDir(name string) ([]os.FileInfo, error) {
	fis, err := r.Filesystem.ReadDir(name)
	for i := range fis {
		fis[i] = unixMode(fis[i])
	}
	return fis, err
}

// Chroot keeps the wrapper on a sub-tree.
func (r *readOnlyFS) Chroot(p string) (billy.Filesystem, error) {
	sub, err := r.Filesystem.Chroot(p)
	if err != nil {
		return nil, err
	}
	return &readOnlyFS{Filesystem: sub}, nil
}

// unixModeInfo reports the mode go-nfs sends as it is: it puts os.FileMode's bits on the wire
// unchanged, and a client reads the low twelve as the Unix mode, where Go keeps setuid,
// setgid and sticky elsewhere.
type unixModeInfo struct{ os.FileInfo }

func unixMode(fi os.FileInfo) os.FileInfo {
	if fi == nil {
		return nil
	}
	return unixModeInfo{fi}
}

func (u unixModeInfo) Mode() os.FileMode {
	m := u.FileInfo.Mode()
	return m&^(os.ModeSetuid|os.ModeSetgid|os.ModeSticky|0o7777) | os.FileMode(unixBits(m))
}

// mergedToHandle names a merged entry by the inode it had in the lower tree when it comes
// from there (copied up or not), else by its upper inode.
func (h *handler) mergedToHandle(o *overlayFS, p []string) []byte {
	x := h.s.merged[o]
	name := strings.Join(p, "/")
	e, err := o.resolve(name)
	if err != nil || x == nil {
		// Gone: a handle that resolves to nothing.
		return h.s.mergedHandle(x0(x), layerUpper, math.MaxUint64)
	}
	st := e.info.Sys().(*syscall.Stat_t)
	l, ino := e.layer, st.Ino
	if e.layer == layerUpper {
		if origin, ok := readOrigin(e.real); ok {
			l, ino = layerLower, origin
		}
	}
	o.ix.saw(l, ino, name)
	return h.s.mergedHandle(x, l, ino)
}

func x0(x *export) *export {
	if x == nil {
		return &export{}
	}
	return x
}

func (h *handler) mergedFromHandle(fh []byte) (billy.Filesystem, []string, error) {
	x, l, ino, ok := h.s.parseMerged(fh)
	if !ok {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusBadHandle}
	}
	p, ok := x.merged.ix.path(l, ino)
	if !ok {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusStale}
	}
	if _, err := x.merged.resolve(p); err != nil {
		return nil, nil, &nfs.NFSStatusError{NFSStatus: nfs.NFSStatusStale}
	}
	return x.merged, splitPath(p), nil
}

// mergedSub is what a mount of a directory below a merged export's root hands out (libnfs
// mounts the directory of the file it is given): go-nfs only asks it for the root handle of
// the mount, which is the export's handle of that directory; every later call comes with a
// handle, which resolves to the export's own view.
type mergedSub struct {
	*overlayFS
	prefix []string
}
