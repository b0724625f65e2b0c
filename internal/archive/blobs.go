package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/flarecast/flarecast/internal/repository"
)

// fetchSmall reads a small blob (manifest, config, section) whole and checks it against its
// descriptor: a store that returns other bytes than asked for is caught here, not later.
func fetchSmall(ctx context.Context, store repository.Store, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("blob %s: %d bytes is more than the %d expected", desc.Digest, desc.Size, limit)
	}
	rc, err := store.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", desc.Digest, err)
	}
	if int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("blob %s: read %d bytes, descriptor says %d", desc.Digest, len(b), desc.Size)
	}
	if got := digest.FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s", desc.Digest, got)
	}
	return b, nil
}

// Written counts what an operation added to a store: the measure of what a derive costs.
type Written struct {
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

func (w *Written) add(n int64) {
	if w != nil {
		w.Blobs++
		w.Bytes += n
	}
}

// pushBytes stores a small blob unless the store has it already; same bytes, same digest, so
// a derive that repeats an earlier one writes nothing.
func pushBytes(ctx context.Context, store repository.Store, mediaType string, b []byte, written *Written) (ocispec.Descriptor, error) {
	desc, stored, err := PushBlob(ctx, store, mediaType, b)
	if stored {
		written.add(desc.Size)
	}
	return desc, err
}

// PushBlob stores the small blob b (a manifest, a config, a small section) unless the store
// has it already, and says whether it did: a blob another writer stored first counts as
// already there.
func PushBlob(ctx context.Context, store repository.Store, mediaType string, b []byte) (desc ocispec.Descriptor, stored bool, err error) {
	desc = ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	ok, err := store.Exists(ctx, desc)
	if err != nil {
		return desc, false, fmt.Errorf("look for %s: %w", desc.Digest, err)
	}
	if ok {
		return desc, false, nil
	}
	if err := store.Push(ctx, desc, bytes.NewReader(b)); err != nil {
		if errors.Is(err, errdef.ErrAlreadyExists) {
			return desc, false, nil
		}
		return desc, false, fmt.Errorf("store %s %s: %w", mediaType, desc.Digest, err)
	}
	return desc, true, nil
}
