package httpboot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/singleflight"
	"oras.land/oras-go/v2/errdef"

	"github.com/flarecast/flarecast/internal/repository"
)

// ErrBlobNotFound marks a digest the source does not hold (HTTP 404).
var ErrBlobNotFound = errors.New("blob not found")

// BlobSource gives the blobs the handler serves. OpenBlob returns the blob's bytes, already
// verified against d, as a file: ranges are cut from it, and the kernel sends it (sendfile)
// without copying through the process. A digest the source lacks gives ErrBlobNotFound.
type BlobSource interface {
	OpenBlob(ctx context.Context, d digest.Digest) (*os.File, error)
}

// remoteBlobs is what RepositoryBlobs needs of a registry store.
type remoteBlobs interface {
	ResolveBlob(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error)
	Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// RepositoryBlobs serves the blobs of a flarecast repository (internal/repository). A local
// store's blobs are served in place. A registry's blobs are first copied whole into a local
// store used as the site's cache, through the repository's verifying reader, so no byte of a
// blob whose digest does not match is ever served; later requests are served from the cache.
type RepositoryBlobs struct {
	local  *repository.Local
	remote remoteBlobs // nil for a local store
	log    logr.Logger
	// fetches makes the many nodes that ask for one new blob at once wait for one download.
	fetches singleflight.Group
}

// NewRepositoryBlobs serves the blobs of store. For a registry store, cacheDir is the local
// store (an OCI layout, created when missing) that holds verified copies; it is ignored for a
// local store.
func NewRepositoryBlobs(store repository.Store, cacheDir string, log logr.Logger) (*RepositoryBlobs, error) {
	switch s := store.(type) {
	case *repository.Local:
		return &RepositoryBlobs{local: s, log: log}, nil
	case *repository.Remote:
		if cacheDir == "" {
			return nil, fmt.Errorf("serve blobs of %s: a registry needs a local cache directory", s)
		}
		cache, err := repository.OpenLocal(cacheDir, repository.Options{})
		if err != nil {
			return nil, fmt.Errorf("serve blobs of %s: %w", s, err)
		}
		return &RepositoryBlobs{local: cache, remote: s, log: log}, nil
	default:
		return nil, fmt.Errorf("serve blobs: unsupported store %T", store)
	}
}

// OpenBlob opens the blob d, fetching and verifying it first when it comes from a registry.
func (b *RepositoryBlobs) OpenBlob(ctx context.Context, d digest.Digest) (*os.File, error) {
	f, err := os.Open(b.local.BlobPath(d))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if b.remote == nil {
		return nil, fmt.Errorf("%s: %w", d, ErrBlobNotFound)
	}
	if d.Algorithm() != digest.Canonical {
		return nil, fmt.Errorf("%s: only %s blobs are cached: %w", d, digest.Canonical, ErrBlobNotFound)
	}
	// The download is shared by every waiting request, so a client that hangs up must not
	// cancel it; each waiter still stops waiting when its own request ends.
	ch := b.fetches.DoChan(d.String(), func() (any, error) {
		return nil, b.fetch(context.WithoutCancel(ctx), d)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
	}
	return os.Open(b.local.BlobPath(d))
}

// fetch copies blob d from the registry into the cache; the repository's reader fails at the
// end of a blob that does not match its digest, and the copy is then discarded.
func (b *RepositoryBlobs) fetch(ctx context.Context, d digest.Digest) error {
	start := time.Now()
	desc, err := b.remote.ResolveBlob(ctx, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return fmt.Errorf("%s: %w", d, ErrBlobNotFound)
		}
		return err
	}
	rc, err := b.remote.Fetch(ctx, desc)
	if err != nil {
		return err
	}
	defer rc.Close()
	in, err := b.local.Ingest(ctx)
	if err != nil {
		return fmt.Errorf("cache %s: %w", d, err)
	}
	if _, err := io.Copy(in, rc); err != nil {
		in.Abort()
		b.log.Info("blob from registry refused", "digest", d.String(), "error", err.Error())
		return fmt.Errorf("fetch %s: %w", d, err)
	}
	got, err := in.Commit(ctx, desc.MediaType)
	if err != nil {
		return fmt.Errorf("cache %s: %w", d, err)
	}
	if got.Digest != d {
		// The verifying reader makes this unreachable; a cache keyed by a wrong digest would
		// serve wrong bytes forever, so check anyway.
		return fmt.Errorf("fetch %s: registry sent %s", d, got.Digest)
	}
	b.log.Info("verified blob from registry into the cache", "digest", d.String(), "bytes", got.Size,
		"duration", time.Since(start).String())
	return nil
}
