package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// extractor writes entries below a root directory using only file descriptors opened from that
// root without following symlinks, so no entry can reach outside it, whatever came before.
type extractor struct {
	root       string
	rootFd     int
	opts       ExtractOptions
	rep        *ExtractReport
	privileged bool
	uid, gid   int

	// open holds descriptors for the directories on the path of the previous entry, outermost
	// first: an archive in entry order walks its tree depth first, so the next entry's parent
	// is almost always on this path or one step below it.
	open []openDir

	dirs []*tar.Header // directories whose mode and times are set at the end
	// dirXattrBytes counts the xattr values held in dirs, bounded by maxHeldXattrBytes.
	dirXattrBytes int64
	written       int64
	buf           []byte
}

func newExtractor(dir string, opts ExtractOptions, rep *ExtractReport) (*extractor, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("extract: open %s: %w", dir, err)
	}
	return &extractor{
		root:       dir,
		rootFd:     fd,
		opts:       opts,
		rep:        rep,
		privileged: os.Geteuid() == 0 && !opts.Rootless,
		uid:        os.Geteuid(),
		gid:        os.Getegid(),
	}, nil
}

func (x *extractor) close() {
	x.dropCache()
	unix.Close(x.rootFd)
}

func (x *extractor) note(path, what string, reason error) {
	x.rep.NotRestored = append(x.rep.NotRestored, NotRestored{Path: path, What: what, Reason: reason.Error()})
}

func (x *extractor) run(ctx context.Context, tr *tar.Reader) error {
	prev := "(start of archive)"
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("extract: entry after %q: %w", prev, err)
		}
		prev = hdr.Name
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
	}
	return x.finishDirs()
}

// checkName turns an entry name into a clean relative path, refusing absolute names and "..".
func checkName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute path")
	}
	clean, err := CleanName(name)
	if err != nil {
		return "", fmt.Errorf("path traversal: %w", err)
	}
	return clean, nil
}

func (x *extractor) entry(hdr *tar.Header, tr *tar.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := checkName(hdr.Name)
	if err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeGNUSparse || hdr.Typeflag == tar.TypeRegA {
		hdr.Typeflag = tar.TypeReg // the reader gives the data with the holes filled
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the root of the archive must be a directory")
		}
		x.rep.count(tar.TypeDir, 0)
		return x.deferDir(hdr, ".")
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if hdr.Typeflag == tar.TypeReg && x.opts.MaxBytes > 0 && x.written+hdr.Size > x.opts.MaxBytes {
		return fmt.Errorf("size %d: %w", hdr.Size, errTooLarge)
	}
	device := hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock
	if device && x.opts.DeviceStandIns {
		return x.standIn(name, hdr)
	}
	if device && !x.privileged {
		x.note(name, "device node", errors.New("creating device nodes needs root"))
		return nil
	}

	pfd, base, err := x.parent(name, true)
	if err != nil {
		return err
	}
	if err := x.clear(pfd, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		// Owner-writable until the end so that the entries below it can be created.
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir: %w", err)
		}
		x.rep.count(tar.TypeDir, 0)
		return x.deferDir(hdr, name)
	case tar.TypeReg:
		if err := x.writeFile(pfd, base, hdr, tr); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
	case tar.TypeLink:
		return x.link(pfd, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		if hdr.Typeflag == tar.TypeChar {
			mode = unix.S_IFCHR
		} else if hdr.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return fmt.Errorf("mknod: %w", err)
		}
	}
	x.rep.count(hdr.Typeflag, hdr.Size)
	return x.restoreMeta(pfd, base, name, hdr)
}

// deferDir keeps what finishDirs needs of a directory entry: its name, owner, mode, times and
// the xattrs that can be restored, and nothing else of the header. A PAX header may hold a MiB
// that zstd shrinks to a few bytes, and the directories are held until the end.
func (x *extractor) deferDir(hdr *tar.Header, name string) error {
	d := &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: hdr.Mode, Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime, AccessTime: hdr.AccessTime}
	for _, r := range x.keptXattrs(name, hdr) {
		if d.PAXRecords == nil {
			d.PAXRecords = make(map[string]string)
		}
		d.PAXRecords[xattrPrefix+r.name] = r.value
		x.dirXattrBytes += int64(len(r.value))
	}
	if x.dirXattrBytes > maxHeldXattrBytes {
		return fmt.Errorf("directories hold more than %d MiB of xattrs in all, more than a root file system has; refusing to keep them until the end", maxHeldXattrBytes>>20)
	}
	x.dirs = append(x.dirs, d)
	return nil
}

func (x *extractor) writeFile(pfd int, base string, hdr *tar.Header, tr io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	if x.buf == nil {
		x.buf = make([]byte, 1<<20) // a multiple of holeBlock, as writeContent needs
	}
	err = writeContent(f, tr, hdr.Size, x.buf, x.opts.Progress)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	x.written += hdr.Size
	return nil
}

// standIn makes an empty file in place of the device node hdr describes, and records it.
func (x *extractor) standIn(name string, hdr *tar.Header) error {
	pfd, base, err := x.parent(name, true)
	if err != nil {
		return err
	}
	if err := x.clear(pfd, base, false); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("device stand-in: %w", err)
	}
	defer unix.Close(fd)
	x.rep.count(hdr.Typeflag, 0)
	if err := x.restoreMeta(pfd, base, name, hdr); err != nil {
		return err
	}
	// The inode and its change time once the metadata is set: a file made later in its place
	// may get the same inode number, never the same change time.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("device stand-in: %w", err)
	}
	x.rep.Devices = append(x.rep.Devices, Device{Path: name, Block: hdr.Typeflag == tar.TypeBlock,
		Major: hdr.Devmajor, Minor: hdr.Devminor, Dev: st.Dev, Ino: st.Ino, Ctime: st.Ctim.Nano()})
	return nil
}

// link makes base a hard link to an earlier entry, which must be inside the tree.
func (x *extractor) link(pfd int, base string, hdr *tar.Header) error {
	if strings.HasPrefix(hdr.Linkname, "/") {
		return fmt.Errorf("hard link to absolute path %q", hdr.Linkname)
	}
	target, err := CleanName(hdr.Linkname)
	if err != nil || target == "." {
		return fmt.Errorf("hard link target %q is outside the tree", hdr.Linkname)
	}
	// Opening the target's directory may close pfd (it belongs to x.open): keep a private
	// descriptor for the link's own directory.
	own, err := unix.Dup(pfd)
	if err != nil {
		return err
	}
	defer unix.Close(own)
	tfd, tbase, err := x.parent(target, false)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if err := unix.Linkat(tfd, tbase, own, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	x.rep.count(tar.TypeLink, 0)
	return nil
}
