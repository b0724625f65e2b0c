package initramfs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// Result describes a built image.
type Result struct {
	// Path is the image file; Digest the key of its inputs (not of its bytes), which names it
	// in the cache.
	Path   string
	Digest string
	Size   int64
	// Cached is true when the image was already in the cache and nothing was written.
	Cached bool
	// KernelVersion is the module tree used; Modules the modules in load order; Builtin the
	// names asked for that the kernel has built in.
	KernelVersion string
	Modules       []string
	Builtin       []string
}

// Build makes the image s describes in cacheDir, named by the digest of its inputs, unless
// it is there already. Concurrent builds of the same inputs each write a temporary file and
// rename it over the same name, so a reader sees a whole image or none.
func Build(s Spec, cacheDir string) (*Result, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	img, err := resolve(s)
	if err != nil {
		return nil, err
	}
	d := img.digest()
	r := &Result{Digest: d, KernelVersion: s.KernelVersion, Modules: img.modules, Builtin: img.builtin}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("initramfs: cache: %w", err)
	}
	r.Path = filepath.Join(cacheDir, "initramfs-"+strings.TrimPrefix(d, "sha256:")+".cpio."+ext(s.Compression))
	if st, err := os.Stat(r.Path); err == nil && st.Mode().IsRegular() {
		r.Size, r.Cached = st.Size(), true
		return r, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("initramfs: cache: %w", err)
	}
	if err := atomicfile.Write(r.Path, 0o644, func(w io.Writer) error { return img.write(w) }); err != nil {
		return nil, fmt.Errorf("initramfs: write %s: %w", r.Path, err)
	}
	st, err := os.Stat(r.Path)
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	r.Size = st.Size()
	return r, nil
}

// Write writes the image s describes to w, compressed, without a cache.
func Write(w io.Writer, s Spec) (*Result, error) {
	s, err := s.withDefaults()
	if err != nil {
		return nil, err
	}
	img, err := resolve(s)
	if err != nil {
		return nil, err
	}
	cw := &countingWriter{w: w}
	if err := img.write(cw); err != nil {
		return nil, err
	}
	return &Result{Digest: img.digest(), Size: cw.n, KernelVersion: s.KernelVersion, Modules: img.modules, Builtin: img.builtin}, nil
}

func ext(c Compression) string {
	if c == Gzip {
		return "gz"
	}
	return "zst"
}

func (img *image) write(w io.Writer) error {
	var zw io.WriteCloser
	switch img.spec.Compression {
	case Gzip:
		// The zero header (no name, no time) keeps the bytes reproducible.
		g, err := gzip.NewWriterLevel(w, gzip.BestCompression)
		if err != nil {
			return err
		}
		zw = g
	default:
		// One encoder goroutine: the frame layout then depends on the input only.
		z, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		if err != nil {
			return err
		}
		zw = z
	}
	if err := img.writeCPIO(zw); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("initramfs: compress: %w", err)
	}
	return nil
}

// writeCPIO writes the newc archive: entries by path, owners root, time 0, one inode number
// each, then the trailer. Host files are opened one at a time (the writer closes each).
func (img *image) writeCPIO(w io.Writer) error {
	rw := cpio.Newc.Writer(w)
	for i, e := range img.sorted() {
		info := cpio.Info{Ino: uint64(i + 1), Mode: e.mode, NLink: 1, Name: e.name, Rmajor: e.rmaj, Rminor: e.rmin}
		if e.mode&cpio.S_IFMT == cpio.S_IFDIR {
			info.NLink = 2
		}
		rec := cpio.Record{Info: info}
		switch {
		case e.src != "":
			f, err := os.Open(e.src)
			if err != nil {
				return fmt.Errorf("initramfs: %s: %w", e.name, err)
			}
			rec.ReaderAt, rec.FileSize = f, uint64(e.size)
		case e.data != nil:
			rec = cpio.StaticRecord(e.data, info)
		}
		if err := rw.WriteRecord(rec); err != nil {
			if c, ok := rec.ReaderAt.(io.Closer); ok {
				c.Close()
			}
			return fmt.Errorf("initramfs: write %s: %w", e.name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs: write trailer: %w", err)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
