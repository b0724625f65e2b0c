package installserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/nfsroot"
	"github.com/flarecast/flarecast/internal/repository"
)

// DefaultNFSPort is the NFS port nodes mount from (NFS and MOUNT on it, over TCP).
const DefaultNFSPort = 2049

// ExportPath is where a Diskless group's root is mounted from. It names the group, not the
// digest, so that what a node is told (its boot script's flarecast.nfsroot=) stays the same
// while the group's deployable changes; the digest is in every file handle instead (the
// export's Version), so a node still holding handles of the previous tree gets "stale file
// handle", never another file that has the same inode number in the new tree. NodesGroup
// names are unique in a namespace, so the path names one group.
func ExportPath(namespace, group string) string {
	return "/flarecast/" + namespace + "/" + group
}

// DisklessExport is one Diskless group and the deployable archive its nodes mount as root.
type DisklessExport struct {
	Namespace, Cluster, Group string
	// Digest is the manifest digest of the group's deployable.
	Digest string
}

// Path is the export's mount path.
func (d DisklessExport) Path() string { return ExportPath(d.Namespace, d.Group) }

// NodeExportPath is a Diskless node's own read-write export (Persistent writes): a merged
// view of its group's tree, its writes kept in the install server's state directory.
func NodeExportPath(namespace, group, node string) string {
	return ExportPath(namespace, group) + "/nodes/" + node
}

// DataExportPath is a group's shared data served from the install server's state directory.
func DataExportPath(namespace, group, name string) string {
	return ExportPath(namespace, group) + "/data/" + name
}

// NodeWrites is a Diskless node whose writes persist in its own export, which only its
// address may mount.
type NodeWrites struct {
	Namespace, Group, Node string
	Address                netip.Addr
}

// Path is the export's mount path.
func (n NodeWrites) Path() string { return NodeExportPath(n.Namespace, n.Group, n.Node) }

// SharedDataExport is a group's shared data entry that the install server serves, to the
// group's nodes only.
type SharedDataExport struct {
	Namespace, Group, Name string
	ReadOnly               bool
	Clients                []netip.Addr
}

// Path is the export's mount path.
func (d SharedDataExport) Path() string { return DataExportPath(d.Namespace, d.Group, d.Name) }

// Wanted is every export the site's groups want.
type Wanted struct {
	// Roots are the NFS roots of Diskless groups (not of RAM root ones).
	Roots []DisklessExport
	// Nodes are the nodes of groups with Persistent writes: served once their group's
	// root is.
	Nodes []NodeWrites
	// Data are the shared data the install server serves.
	Data []SharedDataExport
}

func (w *Wanted) sort() {
	slices.SortFunc(w.Roots, func(a, b DisklessExport) int { return strings.Compare(a.Path(), b.Path()) })
	slices.SortFunc(w.Nodes, func(a, b NodeWrites) int { return strings.Compare(a.Path(), b.Path()) })
	slices.SortFunc(w.Data, func(a, b SharedDataExport) int { return strings.Compare(a.Path(), b.Path()) })
}

// ExportState is how one wanted export stands.
type ExportState struct {
	DisklessExport
	// Served is true once the tree of Digest is made and the NFS server serves it at Path.
	Served bool
	// Err says why the tree of Digest could not be made (a blob that does not match its
	// digest, say).
	Err error
	// Previous is the digest still served at Path when the tree of Digest could not be made:
	// the nodes running it keep their root, new ones are not told of it.
	Previous string
}

// Exports makes the exported tree of each Diskless group's deployable and serves them over
// NFS. A tree is the archive's verified extraction (every section's digest and diffID
// checked while it is extracted), made once per manifest digest in a temporary directory of
// the state directory and renamed into place when complete, so a crash never leaves a half
// tree that counts: a tree under trees/ is complete by being there. Trees of digests no group
// wants any more are removed once no longer served.
//
// The heavy work (extraction) runs in Run's goroutine; Set only hands over what is wanted.
type Exports struct {
	dir   string
	store repository.Store
	log   logr.Logger
	// OnFailure, when set, hears each export whose tree could not be made (once per digest
	// and reason): the install server makes it an event of the group.
	OnFailure func(DisklessExport, error)
	// OnServed, when set, hears each new set of exports once the NFS server serves it.
	OnServed func([]ExportState)
	// HandleKey keys the handles of the read-write exports (per-node and shared data); the
	// same across restarts, so that a node's handles stay good.
	HandleKey []byte

	mu     sync.Mutex
	want   Wanted
	wanted bool // Set was called: before that, trees on disk are not garbage
	state  map[string]ExportState
	// served are the paths of the read-write exports the NFS server serves now; refused the
	// ones it could not open.
	served, refused map[string]bool
	failed          map[string]error // digest -> why its tree could not be made
	wake            chan struct{}
}

// NewExports prepares the state directory's nfs/ part; leftovers of a tree being made when
// the last run stopped are removed.
func NewExports(stateDir string, store repository.Store, log logr.Logger) (*Exports, error) {
	e := &Exports{dir: filepath.Join(stateDir, "nfs"), store: store, log: log, state: map[string]ExportState{}, refused: map[string]bool{},
		failed: map[string]error{}, wake: make(chan struct{}, 1)}
	for _, d := range []string{e.treesDir(), e.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("nfs exports: %w", err)
		}
	}
	left, err := os.ReadDir(e.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("nfs exports: %w", err)
	}
	for _, l := range left {
		p := filepath.Join(e.tmpDir(), l.Name())
		log.Info("removing a tree left half made by the last run", "dir", p)
		if err := removeTree(p); err != nil {
			return nil, fmt.Errorf("nfs exports: remove %s: %w", p, err)
		}
	}
	return e, nil
}

func (e *Exports) treesDir() string { return filepath.Join(e.dir, "trees") }
func (e *Exports) tmpDir() string   { return filepath.Join(e.dir, "tmp") }

// TreeDir is where the tree of a digest lives once made.
func (e *Exports) TreeDir(dgst string) string {
	return filepath.Join(e.treesDir(), strings.ReplaceAll(dgst, ":", "-"))
}

// Set says which roots are wanted now, and nothing else (SetWanted).
func (e *Exports) Set(want []DisklessExport) { e.SetWanted(Wanted{Roots: want}) }

// SetWanted says which exports are wanted now; Run makes and serves them. A digest whose
// tree failed is tried again once the wanted set changes (a new deployable, or the group
// gone and back), not on every call: a damaged blob fails the same way each time.
func (e *Exports) SetWanted(want Wanted) {
	w := Wanted{Roots: slices.Clone(want.Roots), Nodes: slices.Clone(want.Nodes), Data: slices.Clone(want.Data)}
	w.sort()
	e.mu.Lock()
	changed := !e.wanted || !reflect.DeepEqual(w, e.want)
	e.want, e.wanted = w, true
	if changed {
		clear(e.failed)
	}
	e.mu.Unlock()
	if changed {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// Served reports whether the NFS server serves the read-write export at a path (a node's
// own, or shared data).
func (e *Exports) Served(path string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served[path]
}

// State is how the export at a path stands; false when no group wants one there.
func (e *Exports) State(path string) (ExportState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.state[path]
	return s, ok
}

// Run serves NFS on addr until ctx ends, making trees and restarting the NFS listener with
// each new set of exports. Handles of an export that did not change stay good across the
// restart (they are its id and an inode), and clients reconnect at once. The listener is
// opened first, so a port already taken fails the start.
func (e *Exports) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("nfs: listen: %w", err)
	}
	e.log.Info("nfs serving", "address", ln.Addr().String())
	var served []nfsroot.Export
	stop, errc := e.serve(ctx, ln, nil)
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case err := <-errc:
			return fmt.Errorf("nfs: %w", err)
		case <-e.wake:
		}
		e.mu.Lock()
		want, wanted := e.want, e.wanted
		e.mu.Unlock()
		if !wanted {
			continue
		}
		exports, states := e.make(ctx, want.Roots, served)
		if ctx.Err() != nil {
			stop()
			return nil
		}
		writable, err := e.writable(want, exports)
		if err != nil {
			e.log.Error(err, "nfs: read-write exports not made; the roots are served without them")
		}
		exports = append(exports, writable...)
		if !reflect.DeepEqual(exports, served) {
			stop()
			if ln, err = net.Listen("tcp4", addr); err != nil {
				return fmt.Errorf("nfs: listen again for a new set of exports: %w", err)
			}
			e.mu.Lock()
			clear(e.refused)
			e.mu.Unlock()
			if stop, errc, err = e.serveNew(ctx, ln, exports); err != nil {
				return err
			}
			served = exports
			e.log.Info("nfs exports in force", "exports", len(exports))
		}
		e.mu.Lock()
		e.state = map[string]ExportState{}
		for _, s := range states {
			e.state[s.Path()] = s
		}
		e.served = map[string]bool{}
		for _, x := range writable {
			e.served[x.Path] = !e.refused[x.Path]
		}
		e.mu.Unlock()
		e.removeUnwanted(want.Roots, states)
		if e.OnServed != nil {
			e.OnServed(states)
		}
	}
}

func (e *Exports) serveNew(ctx context.Context, ln net.Listener, exports []nfsroot.Export) (func(), <-chan error, error) {
	stop, errc := e.serve(ctx, ln, exports)
	select {
	case err := <-errc:
		return nil, nil, fmt.Errorf("nfs: %w", err)
	default:
	}
	return stop, errc, nil
}

// serve runs an NFS server over exports on ln; stop ends it and waits. An error opening
// the exports comes on the channel.
func (e *Exports) serve(ctx context.Context, ln net.Listener, exports []nfsroot.Export) (func(), <-chan error) {
	errc := make(chan error, 1)
	srv, err := nfsroot.New(exports, nfsroot.WithHandleKey(e.HandleKey), nfsroot.WithRefused(func(path string, err error) {
		e.log.Error(err, "nfs: a read-write export is left out", "export", path)
		e.mu.Lock()
		e.refused[path] = true
		e.mu.Unlock()
	}))
	if err != nil {
		ln.Close()
		errc <- err
		return func() {}, errc
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			errc <- err
		}
	}()
	return func() { cancel(); <-done }, errc
}

// writable are the read-write exports: each node's with Persistent writes over its group's
// root as served now (none while the group has no tree), and the shared data. Their
// directories are made here, never removed: they hold what the nodes wrote.
func (e *Exports) writable(want Wanted, roots []nfsroot.Export) ([]nfsroot.Export, error) {
	var out []nfsroot.Export
	var errs []error
	for _, n := range want.Nodes {
		i := slices.IndexFunc(roots, func(x nfsroot.Export) bool { return x.Path == ExportPath(n.Namespace, n.Group) })
		if i < 0 {
			continue
		}
		dir := filepath.Join(e.dir, "nodes", n.Namespace, n.Group, n.Node)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			errs = append(errs, fmt.Errorf("node %s of NodesGroup %s: %w", n.Node, n.Group, err))
			continue
		}
		out = append(out, nfsroot.Export{Path: n.Path(), Dir: roots[i].Dir, Version: roots[i].Version,
			Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Clients: []netip.Addr{n.Address}})
	}
	for _, d := range want.Data {
		dir := filepath.Join(e.dir, "data", d.Namespace, d.Group, d.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			errs = append(errs, fmt.Errorf("shared data %s of NodesGroup %s: %w", d.Name, d.Group, err))
			continue
		}
		out = append(out, nfsroot.Export{Path: d.Path(), Upper: filepath.Join(dir, "tree"), Work: filepath.Join(dir, "work"),
			ReadOnly: d.ReadOnly, Clients: slices.Clone(d.Clients)})
	}
	slices.SortFunc(out, func(a, b nfsroot.Export) int { return strings.Compare(a.Path, b.Path) })
	return out, errors.Join(errs...)
}

// make makes the trees wanted (one per digest), and returns the exports to serve, sorted by
// path, and the state of each wanted one. An export whose new tree cannot be made keeps
// serving the tree it served before, if any: a damaged rebuild must not take the root from
// under the nodes that run the previous one.
func (e *Exports) make(ctx context.Context, want []DisklessExport, before []nfsroot.Export) ([]nfsroot.Export, []ExportState) {
	var exports []nfsroot.Export
	var states []ExportState
	for _, w := range want {
		dir, err := e.tree(ctx, w)
		if err != nil {
			st := ExportState{DisklessExport: w, Err: err}
			if i := slices.IndexFunc(before, func(x nfsroot.Export) bool { return x.Path == w.Path() }); i >= 0 {
				exports = append(exports, before[i])
				st.Previous = before[i].Version
			}
			states = append(states, st)
			continue
		}
		exports = append(exports, nfsroot.Export{Path: w.Path(), Dir: dir, Version: w.Digest})
		states = append(states, ExportState{DisklessExport: w, Served: true})
	}
	return exports, states
}

// tree returns the tree of w's digest, made when missing.
func (e *Exports) tree(ctx context.Context, w DisklessExport) (string, error) {
	if _, err := digest.Parse(w.Digest); err != nil {
		return "", fmt.Errorf("digest %q: %w", w.Digest, err)
	}
	final := e.TreeDir(w.Digest)
	if _, err := os.Lstat(final); err == nil {
		return final, nil
	}
	e.mu.Lock()
	ferr, failed := e.failed[w.Digest]
	e.mu.Unlock()
	if failed {
		return "", ferr
	}
	err := e.extract(ctx, w, final)
	if err != nil && ctx.Err() == nil {
		e.mu.Lock()
		e.failed[w.Digest] = err
		e.mu.Unlock()
		e.log.Error(err, "nfs export not made: the group's nodes get no root until its deployable is sound",
			"export", w.Path(), "digest", w.Digest)
		if e.OnFailure != nil {
			e.OnFailure(w, err)
		}
	}
	return final, err
}

func (e *Exports) extract(ctx context.Context, w DisklessExport, final string) (err error) {
	tmp, err := os.MkdirTemp(e.tmpDir(), filepath.Base(final)+"-")
	if err != nil {
		return fmt.Errorf("make the tree of %s: %w", w.Digest, err)
	}
	defer func() {
		if err != nil {
			if rerr := removeTree(tmp); rerr != nil {
				e.log.Error(rerr, "remove a tree not made", "dir", tmp)
			}
		}
	}()
	e.log.Info("making the nfs tree of a diskless group's deployable", "export", w.Path(), "digest", w.Digest)
	reports, err := archive.Extract(ctx, e.store, w.Digest, tmp, archive.ExtractOptions{RequireDeployable: true, Rootless: os.Geteuid() != 0})
	if err != nil {
		return fmt.Errorf("verified extraction of the deployable %s of NodesGroup %s: %w", w.Digest, w.Group, err)
	}
	for _, r := range reports {
		if len(r.Report.NotRestored) > 0 {
			e.log.Info("nfs tree: not everything of a section could be restored here", "digest", w.Digest,
				"section", r.Name, "notRestored", r.Report.Summary())
		}
	}
	// The tree's bytes reach the disk before its name does: after a crash, a tree under its
	// final name is whole.
	if err := syncfs(tmp); err != nil {
		return fmt.Errorf("sync the tree of %s: %w", w.Digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("put the tree of %s in place: %w", w.Digest, err)
	}
	if err := syncDir(e.treesDir()); err != nil {
		return fmt.Errorf("sync %s: %w", e.treesDir(), err)
	}
	e.log.Info("nfs tree made", "export", w.Path(), "digest", w.Digest, "dir", final)
	return nil
}

// removeUnwanted removes the trees of digests no wanted export names (the NFS server no
// longer serves them).
func (e *Exports) removeUnwanted(want []DisklessExport, states []ExportState) {
	keep := map[string]bool{}
	for _, w := range want {
		keep[filepath.Base(e.TreeDir(w.Digest))] = true
	}
	for _, s := range states {
		if s.Previous != "" {
			keep[filepath.Base(e.TreeDir(s.Previous))] = true
		}
	}
	entries, err := os.ReadDir(e.treesDir())
	if err != nil {
		e.log.Error(err, "list nfs trees")
		return
	}
	for _, d := range entries {
		if keep[d.Name()] {
			continue
		}
		p := filepath.Join(e.treesDir(), d.Name())
		if err := removeTree(p); err != nil {
			e.log.Error(err, "remove an nfs tree no group uses", "dir", p)
			continue
		}
		e.log.Info("removed an nfs tree no group uses", "dir", p)
	}
}

// removeTree removes a tree whose directories may be read-only (an extraction keeps their
// modes), which RemoveAll cannot empty without root.
func removeTree(p string) error {
	if err := os.RemoveAll(p); err == nil {
		return nil
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
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
