package repository

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	root  string
	grace time.Duration
}

var _ Store = (*Local)(nil)

// OpenLocal opens the layout at root, creating it when root is missing or empty.
func OpenLocal(root string, opts Options) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	s := &Local{root: abs, grace: opts.GCGrace}
	if s.grace == 0 {
		s.grace = DefaultGCGrace
	}
	if err := s.init(); err != nil {
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
	if _, err := os.Stat(filepath.Join(s.root, indexName)); err != nil {
		return fmt.Errorf("%s: %w (the layout is damaged; restore index.json from a backup)", indexName, err)
	}
	// A crashed writer leaves temp files; they would otherwise wait for the next GC.
	if _, err := s.cleanAllTemps(); err != nil {
		return err
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
		if n != lockFileName && n != "blobs" && n != indexName && !hasTempPrefix(n) {
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

func hasTempPrefix(name string) bool {
	return len(name) >= len(tempPrefix) && name[:len(tempPrefix)] == tempPrefix
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

// Push stores a blob whose descriptor is known. Nothing lands unless size and digest match.
// A blob already present gives errdef.ErrAlreadyExists (oras copy treats that as success) and
// restarts its GC grace period, since the caller is about to reference it.
func (s *Local) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	if err := validDigest(expected.Digest); err != nil {
		return err
	}
	if expected.Size < 0 {
		return fmt.Errorf("push %s: negative size: %w", expected.Digest, content.ErrInvalidDescriptorSize)
	}
	final := s.BlobPath(expected.Digest)
	if _, err := os.Stat(final); err == nil {
		now := time.Now()
		os.Chtimes(final, now, now)
		return fmt.Errorf("push %s: %w", expected.Digest, errdef.ErrAlreadyExists)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	f, err := createLockedTemp(dir)
	if err != nil {
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	var manifest *bytes.Buffer
	w := io.Writer(f)
	if isManifest(expected.MediaType) && expected.Size <= maxManifestSize {
		manifest = &bytes.Buffer{}
		w = io.MultiWriter(f, manifest)
	}
	verifier := expected.Digest.Verifier()
	n, err := io.Copy(io.MultiWriter(w, verifier), io.LimitReader(ctxReader{ctx, r}, expected.Size+1))
	switch {
	case err != nil:
		err = fmt.Errorf("push %s: %w", expected.Digest, err)
	case n != expected.Size:
		err = fmt.Errorf("push %s: got %d bytes, descriptor says %d: %w", expected.Digest, n, expected.Size, content.ErrInvalidDescriptorSize)
	case !verifier.Verified():
		err = fmt.Errorf("push %s: content does not match the digest: %w", expected.Digest, content.ErrMismatchedDigest)
	}
	if err != nil {
		discardTemp(f)
		return err
	}
	if err := commitTemp(f, final); err != nil {
		discardTemp(f)
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	if manifest != nil {
		return s.recordReferrer(expected, manifest.Bytes())
	}
	return nil
}

// Ingest starts a blob whose digest is computed while it is written.
func (s *Local) Ingest(ctx context.Context) (Ingester, error) {
	dir := filepath.Join(s.root, "blobs", digest.Canonical.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	f, err := createLockedTemp(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &localIngester{s: s, f: f, d: digest.Canonical.Digester()}, nil
}

type localIngester struct {
	s    *Local
	f    *os.File
	d    digest.Digester
	n    int64
	done bool
}

func (in *localIngester) Write(p []byte) (int, error) {
	if in.done {
		return 0, errors.New("ingest: write after commit or abort")
	}
	n, err := in.f.Write(p)
	in.d.Hash().Write(p[:n])
	in.n += int64(n)
	return n, err
}

func (in *localIngester) Commit(_ context.Context, mediaType string) (ocispec.Descriptor, error) {
	if in.done {
		return ocispec.Descriptor{}, errors.New("ingest: commit after commit or abort")
	}
	in.done = true
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: in.d.Digest(), Size: in.n}
	if err := commitTemp(in.f, in.s.BlobPath(desc.Digest)); err != nil {
		discardTemp(in.f)
		return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
	}
	if isManifest(mediaType) && desc.Size <= maxManifestSize {
		data, err := os.ReadFile(in.s.BlobPath(desc.Digest))
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
		}
		if err := in.s.recordReferrer(desc, data); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
		}
	}
	return desc, nil
}

func (in *localIngester) Abort() error {
	if in.done {
		return nil
	}
	in.done = true
	return discardTemp(in.f)
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Close releases nothing: a local store holds no lock between calls.
func (s *Local) Close() error { return nil }
