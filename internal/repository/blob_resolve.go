package repository

import (
	"context"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ResolveBlob returns the descriptor (digest and size) of a blob the registry holds, for a
// reader that knows only the digest, such as an install server serving blobs by digest. A
// blob the registry lacks gives an error wrapping errdef.ErrNotFound.
func (s *Remote) ResolveBlob(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	if err := validDigest(d); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc, err := s.repo.Blobs().Resolve(ctx, d.String())
	if err != nil {
		return ocispec.Descriptor{}, s.explain("resolve blob "+d.String()+" in", err)
	}
	return desc, nil
}
