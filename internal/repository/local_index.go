package repository

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// index.json holds, as the OCI layout spec says, one descriptor per name with the annotation
// org.opencontainers.image.ref.name, plus (without that annotation) every manifest pushed with a
// subject: the layout has no referrers API, so this is how GC and readers find referrers.

func (s *Local) readIndex() (ocispec.Index, error) {
	data, err := os.ReadFile(filepath.Join(s.root, indexName))
	if err != nil {
		return ocispec.Index{}, fmt.Errorf("read %s: %w", indexName, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return ocispec.Index{}, fmt.Errorf("parse %s: %w", filepath.Join(s.root, indexName), err)
	}
	return idx, nil
}

func (s *Local) writeIndex(idx ocispec.Index) error {
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	sort.SliceStable(idx.Manifests, func(i, j int) bool {
		a, b := idx.Manifests[i], idx.Manifests[j]
		if an, bn := refName(a), refName(b); an != bn {
			return an < bn
		}
		return a.Digest < b.Digest
	})
	data, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	crashPoint("index-write")
	return writeFileAtomic(filepath.Join(s.root, indexName), data)
}

// updateIndex runs change on the current index under the store lock and writes the result
// when change reports a modification.
func (s *Local) updateIndex(change func(*ocispec.Index) (bool, error)) error {
	if s.readOnly {
		return refuseWrite("change "+indexName+" of", s.root)
	}
	l, err := lockFile(filepath.Join(s.root, lockFileName))
	if err != nil {
		return err
	}
	defer l.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	changed, err := change(&idx)
	if err != nil || !changed {
		return err
	}
	return s.writeIndex(idx)
}

func refName(d ocispec.Descriptor) string { return d.Annotations[ocispec.AnnotationRefName] }

// withoutRefName is d as the caller tagged it.
func withoutRefName(d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := d.Annotations[ocispec.AnnotationRefName]; !ok {
		return d
	}
	a := make(map[string]string, len(d.Annotations))
	for k, v := range d.Annotations {
		if k != ocispec.AnnotationRefName {
			a[k] = v
		}
	}
	if len(a) == 0 {
		a = nil
	}
	d.Annotations = a
	return d
}

// Tag names desc. The manifest and everything it reaches must be in the store: a name never
// points at a partial archive. The check runs under the lock GC takes, so GC cannot remove a
// blob between the check and the write.
func (s *Local) Tag(ctx context.Context, desc ocispec.Descriptor, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := validDigest(desc.Digest); err != nil {
		return err
	}
	return s.updateIndex(func(idx *ocispec.Index) (bool, error) {
		if err := s.checkComplete(ctx, desc); err != nil {
			return false, fmt.Errorf("tag %s: %w", name, err)
		}
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if refName(m) != name {
				kept = append(kept, m)
			}
		}
		entry := withoutRefName(desc)
		a := map[string]string{ocispec.AnnotationRefName: name}
		for k, v := range entry.Annotations {
			a[k] = v
		}
		entry.Annotations = a
		idx.Manifests = append(kept, entry)
		return true, nil
	})
}

// checkComplete verifies that desc and all it reaches are present (sizes checked, manifests
// parsed and verified; large blobs are not re-hashed).
func (s *Local) checkComplete(ctx context.Context, desc ocispec.Descriptor) error {
	fi, err := os.Stat(s.BlobPath(desc.Digest))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("blob %s is not in the store; push it before naming it: %w", desc.Digest, errdef.ErrNotFound)
		}
		return err
	}
	if fi.Size() != desc.Size {
		return fmt.Errorf("blob %s is %d bytes, descriptor says %d: %w", desc.Digest, fi.Size(), desc.Size, content.ErrInvalidDescriptorSize)
	}
	if !isManifest(desc.MediaType) {
		return nil
	}
	links, err := s.readManifest(ctx, desc)
	if err != nil {
		return err
	}
	for _, c := range links.children() {
		if err := validDigest(c.Digest); err != nil {
			return err
		}
		if err := s.checkComplete(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", desc.Digest, err)
		}
	}
	return nil
}

func (s *Local) readManifest(ctx context.Context, desc ocispec.Descriptor) (manifestLinks, error) {
	if desc.Size > maxManifestSize {
		return manifestLinks{}, fmt.Errorf("manifest %s: %d bytes exceeds %d: %w", desc.Digest, desc.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	rc, err := s.Fetch(ctx, desc)
	if err != nil {
		return manifestLinks{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return manifestLinks{}, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	return parseLinks(desc, data)
}

// recordReferrer notes a pushed manifest that has a subject in index.json.
func (s *Local) recordReferrer(desc ocispec.Descriptor, data []byte) error {
	links, err := parseLinks(desc, data)
	if err != nil || links.Subject == nil {
		return nil // not a referrer; a manifest that does not parse is not the store's concern
	}
	entry := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: desc.ArtifactType}
	return s.updateIndex(func(idx *ocispec.Index) (bool, error) {
		for _, m := range idx.Manifests {
			if m.Digest == desc.Digest && refName(m) == "" {
				return false, nil
			}
		}
		idx.Manifests = append(idx.Manifests, entry)
		return true, nil
	})
}

// Untag removes a name.
func (s *Local) Untag(_ context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	return s.updateIndex(func(idx *ocispec.Index) (bool, error) {
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if refName(m) != name {
				kept = append(kept, m)
			}
		}
		if len(kept) == len(idx.Manifests) {
			return false, fmt.Errorf("untag %s: no archive by that name in %s: %w", name, s.root, errdef.ErrNotFound)
		}
		idx.Manifests = kept
		return true, nil
	})
}

// Resolve returns the descriptor a name points at. A digest resolves too, to a manifest in the
// store (its media type read from the manifest itself).
func (s *Local) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	idx, err := s.readIndex()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if d, err := digest.Parse(reference); err == nil {
		for _, m := range idx.Manifests {
			if m.Digest == d {
				return withoutRefName(m), nil
			}
		}
		return s.resolveDigest(ctx, d)
	}
	if err := ValidateName(reference); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, m := range idx.Manifests {
		if refName(m) == reference {
			return withoutRefName(m), nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("archive %q not found in %s (list names with `flarecast archive list`): %w", reference, s.root, errdef.ErrNotFound)
}

func (s *Local) resolveDigest(ctx context.Context, d digest.Digest) (ocispec.Descriptor, error) {
	fi, err := os.Stat(s.BlobPath(d))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ocispec.Descriptor{}, fmt.Errorf("resolve %s: not in %s: %w", d, s.root, errdef.ErrNotFound)
		}
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: %w", d, err)
	}
	desc := ocispec.Descriptor{Digest: d, Size: fi.Size(), MediaType: ocispec.MediaTypeImageManifest}
	links, err := s.readManifest(ctx, desc)
	if err != nil || !isManifest(links.MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("resolve %s: not a manifest with a mediaType: %w", d, errdef.ErrNotFound)
	}
	desc.MediaType = links.MediaType
	return desc, nil
}

// List returns every name, sorted.
func (s *Local) List(_ context.Context) ([]Entry, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, m := range idx.Manifests {
		if n := refName(m); n != "" {
			out = append(out, Entry{Name: n, Descriptor: withoutRefName(m)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
