package repository

import (
	"context"
	"fmt"
	"regexp"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Referrers (signatures, SBOMs: manifests whose subject is an archive) travel with their
// archive. A local store finds them in its index.json records, a registry through the
// referrers API (or the tag schema oras falls back to on registries without it).

// Predecessors returns the recorded referrers of node. It makes Local an oras GraphStorage,
// so that oras.ExtendedCopy carries referrers along.
func (s *Local) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if refName(m) != "" || !isManifest(m.MediaType) {
			continue
		}
		links, err := s.readManifest(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("referrers of %s: %w", node.Digest, err)
		}
		if links.Subject != nil && links.Subject.Digest == node.Digest {
			out = append(out, m)
		}
	}
	return out, nil
}

// Predecessors returns the referrers of node in the registry.
func (s *Remote) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	out, err := s.repo.Predecessors(ctx, node)
	if err != nil {
		return nil, s.explain("referrers of "+node.Digest.String()+" in", err)
	}
	return out, nil
}

// referrersTag matches the tags of the referrers tag schema ("sha256-<hex>"), which a registry
// without the referrers API holds for each subject; they are not archive names.
var referrersTag = regexp.MustCompile(`^(sha256|sha384|sha512)-[0-9a-f]{64,128}$`)
