package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// DefaultGCGrace is how long a blob no name reaches is kept: a writer pushes blobs first and
// names the manifest last, and GC must not take the blobs away in between.
const DefaultGCGrace = time.Hour

const (
	lockFileName = ".lock"
	indexName    = ocispec.ImageIndexFile
)

// Local is a store in an OCI image layout directory (oci-layout, index.json, blobs/<alg>/<hex>),
// readable by any OCI layout tool. Several processes may write it at once: blobs are
// content-addressed and land by atomic rename, and index.json changes under a flock.
type Local struct {
	root     string
	grace    time.Duration
	readOnly bool
}

var _ Store = (*Local)(nil)

// OpenLocal opens the layout at root, creating it when root is missing or empty (unless
// opts.ReadOnly, which opens only a layout that is there and touches nothing).
func OpenLocal(root string, opts Options) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	s := &Local{root: abs, grace: opts.GCGrace, readOnly: opts.ReadOnly}
	if s.grace == 0 {
		s.grace = DefaultGCGrace
	}
	open := s.init
	if s.readOnly {
		open = s.check
	}
	if err := open(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	return s, nil
}

func (s *Local) init() error {
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return err
	}
	l, err := lockFile(filepath.Join(s.root, lockFileName))
	if err != nil {
		return err
	}
	defer l.unlock()
	layout, err := os.ReadFile(filepath.Join(s.root, ocispec.ImageLayoutFile))
	switch {
	case err == nil:
		var v ocispec.ImageLayout
		if err := json.Unmarshal(layout, &v); err != nil || v.Version != ocispec.ImageLayoutVersion {
			return fmt.Errorf("%s is not an OCI image layout version %s", ocispec.ImageLayoutFile, ocispec.ImageLayoutVersion)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := s.create(); err != nil {
			return err
		}
	default:
		return err
	}
	// A crashed writer's temp files stay for GC to remove (and report): opening a store
	// removes nothing, so what a reader sees is what GC will say it removed.
	if _, err := os.Stat(filepath.Join(s.root, indexName)); err != nil {
		return fmt.Errorf("%s: %w (the layout is damaged; restore index.json from a backup)", indexName, err)
	}
	return nil
}

// check is init for a read-only store: the layout must be there and whole, and nothing is
// written, not even the lock file.
func (s *Local) check() error {
	fi, err := os.Stat(s.root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("not a directory")
	}
	layout, err := os.ReadFile(filepath.Join(s.root, ocispec.ImageLayoutFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s: not an OCI image layout (a store is made by the commands that write one: archive create, import or pull)", ocispec.ImageLayoutFile)
	}
	if err != nil {
		return err
	}
	var v ocispec.ImageLayout
	if err := json.Unmarshal(layout, &v); err != nil || v.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("%s is not an OCI image layout version %s", ocispec.ImageLayoutFile, ocispec.ImageLayoutVersion)
	}
	if _, err := os.Stat(filepath.Join(s.root, indexName)); err != nil {
		return fmt.Errorf("%s: %w (the layout is damaged; restore index.json from a backup)", indexName, err)
	}
	return nil
}

// create lays out a new store, refusing a directory that holds something else.
func (s *Local) create() error {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if n != lockFileName && n != "blobs" && n != indexName && !strings.HasPrefix(n, tempPrefix) {
			return fmt.Errorf("directory is not empty and has no %s: not an OCI image layout; choose an empty or new directory", ocispec.ImageLayoutFile)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.root, "blobs", digest.Canonical.String()), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(s.root, indexName)); errors.Is(err, os.ErrNotExist) {
		if err := s.writeIndex(ocispec.Index{}); err != nil {
			return err
		}
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	// oci-layout last: its presence says the layout is complete.
	return writeFileAtomic(filepath.Join(s.root, ocispec.ImageLayoutFile), layout)
}

// Root is the layout directory.
func (s *Local) Root() string { return s.root }

func (s *Local) String() string { return s.root }

// BlobPath is where the blob of d lives (it may not exist). Servers use it for Range requests;
// they must verify what they serve or trust the store.
func (s *Local) BlobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func validDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %v: %w", d, err, errdef.ErrInvalidDigest)
	}
	return nil
}

// Exists reports whether the blob of target is in the store.
func (s *Local) Exists(_ context.Context, target ocispec.Descriptor) (bool, error) {
	if err := validDigest(target.Digest); err != nil {
		return false, err
	}
	_, err := os.Stat(s.BlobPath(target.Digest))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, fmt.Errorf("exists %s: %w", target.Digest, err)
}

// Fetch opens the blob of target. The reader checks size and digest as it reaches the end and
// fails the last Read on a mismatch, so a corrupted blob never reads back as good.
func (s *Local) Fetch(_ context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	if err := validDigest(target.Digest); err != nil {
		return nil, err
	}
	f, err := os.Open(s.BlobPath(target.Digest))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("fetch %s from %s: %w", target.Digest, s.root, errdef.ErrNotFound)
		}
		return nil, fmt.Errorf("fetch %s: %w", target.Digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fetch %s: %w", target.Digest, err)
	}
	if fi.Size() != target.Size {
		f.Close()
		return nil, fmt.Errorf("fetch %s: blob is %d bytes, descriptor says %d (corrupt blob or wrong descriptor; run verify): %w",
			target.Digest, fi.Size(), target.Size, content.ErrMismatchedDigest)
	}
	return newVerifyingReader(f, target), nil
}

// Close releases nothing: a local store holds no lock between calls.
func (s *Local) Close() error { return nil }
