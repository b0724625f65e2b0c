package tarball

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ExtractOptions control Extract.
type ExtractOptions struct {
	// Rootless extracts as an unprivileged user would even when running as root: owners are
	// not changed and device nodes are not created (both are reported instead).
	Rootless bool
	// MaxBytes, when positive, bounds the size of the uncompressed tar (and so of what is
	// written); a larger archive is refused. It guards against inputs that expand without end
	// (zstd bombs, sparse entries declaring petabytes, data hidden behind directory entries).
	MaxBytes int64
	// Progress, when set, is called with the number of file-content bytes just written.
	Progress func(n int64)
	// DeviceStandIns makes each device node an empty regular file, with the entry's owner,
	// mode and times, and lists it in ExtractReport.Devices: in a user namespace, where root
	// may not mknod, a tree that a DirSource with those Devices packs into the same bytes as
	// the tree with the real nodes.
	DeviceStandIns bool
}

// Device is a device node that Extract made as a stand-in (ExtractOptions.DeviceStandIns).
type Device struct {
	// Path is the entry's name in the tree, as Pack names it ("dev/null").
	Path string `json:"path"`
	// Block is set for a block device; a character device otherwise.
	Block bool  `json:"block,omitempty"`
	Major int64 `json:"major"`
	Minor int64 `json:"minor"`
	// Dev, Ino and Ctime are the stand-in's inode and its change time: a file that replaced
	// it since, or a change of its metadata, is not taken for it.
	Dev   uint64 `json:"-"`
	Ino   uint64 `json:"-"`
	Ctime int64  `json:"-"`
}

// NotRestored is one piece of metadata or one entry that Extract could not reproduce.
type NotRestored struct {
	Path   string `json:"path"`
	What   string `json:"what"` // "owner", "mode", "xattr security.capability", "device node", ...
	Reason string `json:"reason"`
}

func (n NotRestored) String() string {
	return fmt.Sprintf("%s: %s not restored: %s", n.Path, n.What, n.Reason)
}

// ExtractReport says what Extract did. Its Stats count the entries extracted; TarBytes and
// DiffID describe the tar that was read (after decompression), so a caller can check the
// layer's diff_id without a second pass.
type ExtractReport struct {
	Stats
	// Compressed names the compression of the input: "zstd", "gzip", or "" for a plain tar.
	Compressed string `json:"compressed,omitempty"`
	// NotRestored lists, in archive order, everything that was not reproduced exactly.
	NotRestored []NotRestored `json:"notRestored,omitempty"`
	// Devices lists the stand-ins made for device nodes (ExtractOptions.DeviceStandIns).
	Devices []Device `json:"devices,omitempty"`
}

// Summary counts NotRestored by kind, for a one-line message ("owner: 1200, device node: 3").
func (r ExtractReport) Summary() string {
	counts := make(map[string]int)
	for _, n := range r.NotRestored {
		counts[n.What]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// Extract reads a tar, plain or compressed with zstd or gzip (told apart by magic number), into
// dir, which must exist. It refuses absolute names, names with "..", writing through any
// symlink (so nothing lands outside dir whatever the symlinks in the archive point to), and hard
// links whose target is outside dir; the error names the offending entry. Owners, modes, times,
// xattrs (those [KeepXattr] accepts) and hard links are restored; what cannot be (as non-root,
// on a file system that lacks a feature, or an xattr of another namespace) is listed in the
// report rather than ignored.
func Extract(ctx context.Context, r io.Reader, dir string, opts ExtractOptions) (ExtractReport, error) {
	var rep ExtractReport
	tarStream, kind, release, err := decompressed(r)
	if err != nil {
		return rep, fmt.Errorf("extract: %w", err)
	}
	defer release()
	rep.Compressed = kind
	counted := &counter{w: io.Discard, h: sha256.New()}
	tee := io.TeeReader(tarStream, counted)
	if opts.MaxBytes > 0 {
		tee = &limitReader{r: tee, left: opts.MaxBytes}
	}

	x, err := newExtractor(dir, opts, &rep)
	if err != nil {
		return rep, err
	}
	defer x.close()
	if err := x.run(ctx, tar.NewReader(tee)); err != nil {
		return rep, err
	}
	// Read the end-of-archive padding too, so DiffID covers the whole tar.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return rep, fmt.Errorf("extract: after the last entry: %w", err)
	}
	rep.DiffID, rep.TarBytes = digestOf(counted.h), counted.n
	return rep, nil
}

// errTooLarge is returned once an archive passes ExtractOptions.MaxBytes (or a tar source
// PackOptions.MaxBytes).
var errTooLarge = errors.New("archive larger than the MaxBytes limit")

// ErrTooLarge is in the chain of the error of an Extract or a Pack stopped by MaxBytes.
var ErrTooLarge = errTooLarge

type limitReader struct {
	r    io.Reader
	left int64
}

// Read lets through left bytes and asks for one more: a stream that ends exactly at the limit
// reads its EOF, one that goes on is refused.
func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p[:min(int64(len(p)), l.left+1)])
	if int64(n) > l.left {
		n = int(l.left)
		err = errTooLarge
	}
	l.left -= int64(n)
	return n, err
}
