package repository

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
)

// Copy copies the archive name of src, with every blob it reaches, to dst under dstName (name
// when empty), and returns its manifest descriptor. Blobs dst already has are not sent again.
// Referrers of the archive (signatures, SBOMs) come along when src can list them.
func Copy(ctx context.Context, src, dst Store, name, dstName string) (ocispec.Descriptor, error) {
	if dstName == "" {
		dstName = name
	}
	if err := ValidateName(dstName); err != nil {
		return ocispec.Descriptor{}, err
	}
	var desc ocispec.Descriptor
	var err error
	if g, ok := src.(oras.ReadOnlyGraphTarget); ok {
		desc, err = oras.ExtendedCopy(ctx, g, name, dst, dstName, oras.DefaultExtendedCopyOptions)
	} else {
		desc, err = oras.Copy(ctx, src, name, dst, dstName, oras.DefaultCopyOptions)
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s from %v to %v as %s: %w", name, src, dst, dstName, err)
	}
	return desc, nil
}
