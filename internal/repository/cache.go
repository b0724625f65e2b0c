package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// fetchCached serves a blob from the cache when the cached copy is good, else from the
// registry while writing it into the cache. A cached copy is hashed in full the first time a
// process serves it (a bad copy is deleted and fetched again); later serves trust that check
// while the file keeps its identity, so a site serving one image to many nodes hashes it once.
func (s *Remote) fetchCached(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	f, err := s.cache.openVerified(ctx, target)
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, content.ErrMismatchedDigest) {
		return nil, err
	}
	rc, err := s.fetchRemote(ctx, target)
	if err != nil {
		return nil, err
	}
	final := s.cache.BlobPath(target.Digest)
	tmp, err := createLockedTemp(filepath.Dir(final))
	if err != nil {
		// The cache is an optimisation: serve from the registry without it.
		return rc, nil
	}
	return &cacheFiller{rc: rc, cache: s.cache, tmp: tmp, final: final}, nil
}

// cacheFiller copies what the caller reads into a temp file in the cache and commits it when
// the (verifying) remote reader reaches a good end.
type cacheFiller struct {
	rc    io.ReadCloser
	cache *Local
	tmp   *os.File
	final string
	dead  bool // the cache copy failed; keep serving
}

func (c *cacheFiller) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 && !c.dead && c.tmp != nil {
		if _, werr := c.tmp.Write(p[:n]); werr != nil {
			c.dead = true
		}
	}
	if err == io.EOF && c.tmp != nil {
		// The verifying reader returns io.EOF only for a blob that matched its descriptor.
		if !c.dead && c.cache.commitBlob(c.tmp, c.final) == nil {
			c.tmp = nil
		}
	}
	return n, err
}

func (c *cacheFiller) Close() error {
	if c.tmp != nil {
		discardTemp(c.tmp)
		c.tmp = nil
	}
	return c.rc.Close()
}

// verifiedKey identifies a blob file that was hashed and found good.
type verifiedKey struct {
	digest digest.Digest
	ino    uint64
	size   int64
	mtime  int64
}

// verified remembers good blob files per process.
var verified sync.Map

// openVerified opens a blob of the store after checking it once per process. A corrupt blob
// is removed, so the caller can fetch it again; the error then wraps ErrMismatchedDigest.
func (s *Local) openVerified(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	path := s.BlobPath(target.Digest)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	key, err := fileKey(f, target.Digest)
	if err != nil {
		f.Close()
		return nil, err
	}
	if _, ok := verified.Load(key); ok && key.size == target.Size {
		return f, nil
	}
	verifier := target.Digest.Verifier()
	n, err := io.Copy(verifier, ctxReader{ctx, f})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("verify cached %s: %w", target.Digest, err)
	}
	if n != target.Size || !verifier.Verified() {
		f.Close()
		// Remove only the file that was checked: a concurrent refetch may have replaced it.
		if again, err := os.Open(path); err == nil {
			if k2, err := fileKey(again, target.Digest); err == nil && k2 == key {
				os.Remove(path)
			}
			again.Close()
		}
		return nil, fmt.Errorf("cached %s is corrupt; fetching it again: %w", target.Digest, content.ErrMismatchedDigest)
	}
	verified.Store(key, true)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
