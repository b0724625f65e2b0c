package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Compression says how the tar is wrapped.
type Compression int

const (
	// Zstd compresses the tar into independent zstd frames (the default).
	Zstd Compression = iota
	// Plain writes the tar as it is.
	Plain
)

// Source is what Pack reads: a directory, or a tar stream. Build one with DirSource or TarSource.
type Source struct {
	dir     string
	tar     io.Reader
	devices map[string]Device
}

// DirSource packs the tree rooted at dir (the directory itself becomes the root entry).
func DirSource(dir string) Source { return Source{dir: dir} }

// WithDevices packs the stand-ins that Extract made (ExtractReport.Devices) in a directory
// source as the device nodes they stand for. A stand-in replaced or emptied since (another
// inode, or no longer an empty regular file) is packed as what it is now.
func (s Source) WithDevices(devs []Device) Source {
	s.devices = make(map[string]Device, len(devs))
	for _, d := range devs {
		s.devices[d.Path] = d
	}
	return s
}

// TarSource repacks an existing tar stream, plain or compressed with zstd or gzip: its entries
// are normalized and sorted, so the result is what packing the same tree from a directory would
// give.
func TarSource(r io.Reader) Source { return Source{tar: r} }

// Rewind returns a function that puts a tar source back where it is now, when it can (a
// file): a streamed Pack that fails with ErrNotCanonical is then packed again spooled.
func (s Source) Rewind() (func() error, bool) {
	sk, ok := s.tar.(io.Seeker)
	if !ok {
		return nil, false
	}
	off, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, false
	}
	return func() error {
		_, err := sk.Seek(off, io.SeekStart)
		return err
	}, true
}

func (s Source) String() string {
	if s.tar != nil {
		return "tar stream"
	}
	return s.dir
}

// PackOptions control Pack and WriteEntries. The zero value packs with zstd level 3 and every
// time set to 1970-01-01.
type PackOptions struct {
	// SourceDateEpoch is the modification time of every entry, in seconds since 1970 (the CLI
	// passes $SOURCE_DATE_EPOCH, 0 when unset). Ignored when PreserveTimes.
	SourceDateEpoch int64
	// PreserveTimes keeps each entry's own modification time (to the nanosecond).
	PreserveTimes bool
	// Compression of the output; Zstd by default.
	Compression Compression
	// Level is the zstd level (1 to 22, mapped onto the encoder's speeds); 0 means DefaultLevel.
	// The same level must be used for the compressed bytes to be reproducible.
	Level int
	// Progress, when set, is called with the number of file-content bytes just read from the
	// source. Calls come from one goroutine at a time, in order.
	Progress func(n int64)
	// TempDir is where a TarSource spools file contents while it sorts entries (os.TempDir()
	// when empty).
	TempDir string
	// Stream packs a TarSource as it is read, without a spool, when its entries come in
	// canonical order or nearly so (a bounded window of entries is held back and sorted); one
	// that does not fails with ErrNotCanonical. The bytes are those the spooled pack writes.
	Stream bool
	// MaxBytes, when positive, bounds a TarSource: the uncompressed tar stream, and the file
	// contents it declares (a sparse entry is small in the stream and large once read), are
	// counted as they come and refused past it (ErrTooLarge), before more is spooled.
	MaxBytes int64
	// Exclude, when set, is asked about every entry below a directory source's root, by its
	// cleaned name ("etc/machine-id"); an entry it excludes is left out with everything below
	// it, and a later link to the same file becomes that file's first name.
	Exclude func(name string) bool
	// OneFileSystem keeps a directory source to its root's file system, as tar
	// --one-file-system: a directory on which another file system is mounted is packed as an
	// empty directory (its mount point), and named in Stats.MountPoints.
	OneFileSystem bool
}

// SourceDateEpochFromEnv reads $SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/):
// 0 when unset or empty, an error when it is not a non-negative integer.
func SourceDateEpochFromEnv() (int64, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", v)
	}
	return n, nil
}

// Stats describe what Pack or WriteEntries wrote.
type Stats struct {
	Dirs, Files, HardLinks, Symlinks int
	CharDevices, BlockDevices, FIFOs int
	// SkippedSockets counts sockets, which a tar cannot hold; SkippedSocketPaths names the
	// first few.
	SkippedSockets     int
	SkippedSocketPaths []string `json:",omitempty"`
	// MountPoints are the directories packed empty because another file system is mounted
	// on them (PackOptions.OneFileSystem), the first few of them.
	MountPoints []string `json:",omitempty"`
	// ContentBytes is the sum of the regular files' sizes.
	ContentBytes int64
	// TarBytes is the size of the uncompressed tar and DiffID its sha256 ("sha256:<hex>"),
	// the OCI layer diff_id.
	TarBytes int64
	DiffID   string
	// OutputBytes is the size of what was written to the caller's writer (the compressed
	// layer; the tar's size when Compression is Plain). Its digest is the writer's to compute:
	// a repository ingester does, and hashing it here too would double that work.
	OutputBytes int64
}

// Entries returns the number of entries written.
func (s Stats) Entries() int {
	return s.Dirs + s.Files + s.HardLinks + s.Symlinks + s.CharDevices + s.BlockDevices + s.FIFOs
}

func (s Stats) String() string {
	return fmt.Sprintf("%d entries (%d dirs, %d files, %d hard links, %d symlinks, %d char, %d block, %d fifos; %d sockets skipped), %d bytes of tar %s",
		s.Entries(), s.Dirs, s.Files, s.HardLinks, s.Symlinks, s.CharDevices, s.BlockDevices, s.FIFOs,
		s.SkippedSockets, s.TarBytes, s.DiffID)
}

// maxSkippedPaths bounds the names kept in reports so memory does not grow with the tree.
const maxSkippedPaths = 32

func (s *Stats) count(typeflag byte, size int64) {
	switch typeflag {
	case tar.TypeDir:
		s.Dirs++
	case tar.TypeReg:
		s.Files++
		s.ContentBytes += size
	case tar.TypeLink:
		s.HardLinks++
	case tar.TypeSymlink:
		s.Symlinks++
	case tar.TypeChar:
		s.CharDevices++
	case tar.TypeBlock:
		s.BlockDevices++
	case tar.TypeFifo:
		s.FIFOs++
	}
}

func (s *Stats) skipSocket(name string) {
	s.SkippedSockets++
	if len(s.SkippedSocketPaths) < maxSkippedPaths {
		s.SkippedSocketPaths = append(s.SkippedSocketPaths, name)
	}
}
