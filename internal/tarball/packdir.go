package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

const (
	// readAheadMax is the largest file read ahead whole; larger ones are streamed in turn.
	readAheadMax = 1 << 20
	// readAheadBudget bounds the bytes read ahead and not yet written to the tar.
	readAheadBudget = 32 << 20
	// budgetUnit is the granularity of the budget semaphore.
	budgetUnit = 64 << 10
	// readers is how many goroutines open and read small files ahead of the tar writer, so
	// that file system latency overlaps with compression.
	readers = 4
)

// item is one entry on its way from the walker to the tar writer.
type item struct {
	hdr    *tar.Header
	abs    string
	tokens int           // budget units held by data
	ready  chan struct{} // closed once data or err is set (read-ahead files only)
	data   []byte
	err    error
}

// packDir walks dir in entry order and writes it to tw. Three stages run at once: the walker
// (lstat, readlink, xattrs, hard-link detection), readers that load small files ahead, and this
// goroutine, which writes headers and contents in order.
func packDir(ctx context.Context, dir string, devices map[string]Device, tw *tar.Writer, opts PackOptions, st *Stats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &walker{
		ctx:     ctx,
		opts:    opts,
		items:   make(chan *item, 1024),
		reads:   make(chan *item, 1024),
		budget:  make(chan struct{}, readAheadBudget/budgetUnit),
		links:   make(map[fileID]string),
		devices: devices,
		st:      st,
	}
	var walkErr error
	go func() {
		walkErr = w.walk(dir)
		close(w.items)
		close(w.reads)
	}()
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range w.reads {
				it.data, it.err = readWhole(it.abs, it.hdr.Size, &w.bufs)
				close(it.ready)
			}
		}()
	}

	err := writeItems(ctx, w, tw, opts)
	if err != nil {
		cancel()
		for range w.items {
		}
	}
	wg.Wait()
	if err == nil {
		err = walkErr
	}
	return err
}

// writeItems is the in-order stage: it writes each item's header and content.
func writeItems(ctx context.Context, w *walker, tw *tar.Writer, opts PackOptions) error {
	buf := make([]byte, 1<<20)
	for it := range w.items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := tw.WriteHeader(it.hdr); err != nil {
			return fmt.Errorf("%s: %w", it.hdr.Name, err)
		}
		if it.hdr.Typeflag != tar.TypeReg || it.hdr.Size == 0 {
			continue
		}
		if it.ready != nil {
			<-it.ready
			err := it.err
			if err == nil {
				_, err = tw.Write(it.data)
				w.bufs.put(it.data)
				it.data = nil
			}
			w.release(it.tokens)
			if err != nil {
				return fmt.Errorf("%s: %w", it.hdr.Name, err)
			}
			if opts.Progress != nil {
				opts.Progress(it.hdr.Size)
			}
			continue
		}
		if err := streamFile(it.abs, it.hdr.Size, tw, buf, opts.Progress); err != nil {
			return fmt.Errorf("%s: %w", it.hdr.Name, err)
		}
	}
	return nil
}

// errChanged reports a file whose size changed between lstat and read: its tar entry would lie.
var errChanged = errors.New("file changed while being packed")

// readWhole reads a small file into a pooled buffer, checking that its size is still the one
// its header declares.
func readWhole(abs string, size int64, pool *bufPool) ([]byte, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := pool.get(int(size) + 1)
	n, err := io.ReadFull(f, data)
	switch {
	case err == nil: // size+1 bytes: the file grew
		err = errChanged
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if int64(n) == size {
			return data[:size], nil
		}
		err = errChanged
	}
	pool.put(data)
	return nil, err
}

func streamFile(abs string, size int64, w io.Writer, buf []byte, progress func(int64)) error {
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	var done int64
	for done < size {
		n, err := f.Read(buf[:min(int64(len(buf)), size-done)])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			done += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if done != size {
		return errChanged
	}
	// One more byte would mean the file grew.
	if n, _ := f.Read(buf[:1]); n > 0 {
		return errChanged
	}
	return nil
}

type walker struct {
	ctx    context.Context
	opts   PackOptions
	items  chan *item
	reads  chan *item
	budget chan struct{}
	links  map[fileID]string
	// devices are the stand-ins to pack as the device nodes they stand for (WithDevices).
	devices map[string]Device
	st      *Stats
	bufs    bufPool
	// dev is the root's device, for PackOptions.OneFileSystem.
	dev uint64
}

func (w *walker) acquire(n int) error {
	for i := 0; i < n; i++ {
		select {
		case w.budget <- struct{}{}:
		case <-w.ctx.Done():
			w.release(i)
			return w.ctx.Err()
		}
	}
	return nil
}

func (w *walker) release(n int) {
	for i := 0; i < n; i++ {
		<-w.budget
	}
}

func (w *walker) send(ch chan *item, it *item) error {
	select {
	case ch <- it:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

func (w *walker) walk(root string) error {
	// The tree's own path may go through symlinks (a /var/lib/images -> /data link); nothing
	// below it is followed.
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return fmt.Errorf("lstat: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errors.New("not a directory")
	}
	w.dev = st.Dev
	if err := w.entry(root, ".", &st); err != nil {
		return err
	}
	return w.dir(root, "")
}

// dir emits the contents of the directory abs (named rel in the archive, "" for the root).
func (w *walker) dir(abs, rel string) error {
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("%s: %w", displayName(rel), err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: read directory: %w", displayName(rel), err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		childAbs, childRel := filepath.Join(abs, name), name
		if rel != "" {
			childRel = rel + "/" + name
		}
		if w.opts.Exclude != nil && w.opts.Exclude(childRel) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(childAbs, &st); err != nil {
			return fmt.Errorf("%s: lstat: %w", childRel, err)
		}
		if err := w.entry(childAbs, childRel, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if w.opts.OneFileSystem && st.Dev != w.dev {
				// The mount point stays, as an empty directory: the system mounts on it again.
				if len(w.st.MountPoints) < maxSkippedPaths {
					w.st.MountPoints = append(w.st.MountPoints, childRel)
				}
				continue
			}
			if err := w.dir(childAbs, childRel); err != nil {
				return err
			}
		}
	}
	return nil
}

func displayName(rel string) string {
	if rel == "" {
		return RootName
	}
	return rel
}

// entry turns one file into an item and hands it on.
func (w *walker) entry(abs, rel string, st *unix.Stat_t) error {
	hdr, err := statHeader(abs, rel, st)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if hdr == nil {
		w.st.skipSocket(rel)
		return nil
	}
	if d, ok := w.devices[rel]; ok && hdr.Typeflag == tar.TypeReg && hdr.Size == 0 && st.Dev == d.Dev && st.Ino == d.Ino && st.Ctim.Nano() == d.Ctime {
		hdr.Typeflag, hdr.Devmajor, hdr.Devminor = tar.TypeChar, d.Major, d.Minor
		if d.Block {
			hdr.Typeflag = tar.TypeBlock
		}
	}
	if hdr.Typeflag != tar.TypeDir && st.Nlink > 1 {
		id := fileID{dev: st.Dev, ino: st.Ino}
		if first, ok := w.links[id]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			w.links[id] = rel
		}
	}
	if err := Normalize(hdr, w.opts.SourceDateEpoch, w.opts.PreserveTimes); err != nil {
		return err
	}
	w.st.count(hdr.Typeflag, hdr.Size)
	it := &item{hdr: hdr, abs: abs}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 && hdr.Size <= readAheadMax {
		it.tokens = int((hdr.Size + budgetUnit - 1) / budgetUnit)
		if err := w.acquire(it.tokens); err != nil {
			return err
		}
		it.ready = make(chan struct{})
		if err := w.send(w.reads, it); err != nil {
			w.release(it.tokens)
			return err
		}
	}
	return w.send(w.items, it)
}
