package archive

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
)

// Info is what a person or a script wants to know about an archive without unpacking it.
type Info struct {
	Name             string            `json:"name"`
	Type             Type              `json:"type"`
	Architecture     string            `json:"architecture"`
	OS               string            `json:"os"`
	Created          *time.Time        `json:"created,omitempty"`
	FlarecastVersion string            `json:"flarecastVersion"`
	Inputs           map[string]string `json:"inputs,omitempty"`
	// Digest is the manifest digest: the archive's identity.
	Digest       digest.Digest `json:"digest"`
	ManifestSize int64         `json:"manifestSize"`
	Config       SectionInfo   `json:"config"`
	Sections     []SectionInfo `json:"sections"`
	// Size is the sum of the manifest, config and sections: what a copy moves at most.
	Size int64 `json:"size"`
	// Lineage runs from the generic archive to the direct base.
	Lineage            []LineageEntry          `json:"lineage,omitempty"`
	NodesGroup         string                  `json:"nodesGroup,omitempty"`
	SoftwareLoad       *SoftwareLoadDescriptor `json:"softwareLoad,omitempty"`
	SoftwareLoadDigest digest.Digest           `json:"softwareLoadDigest,omitempty"`
}

// SectionInfo describes one blob of an archive.
type SectionInfo struct {
	Name      string        `json:"name"`
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	DiffID    digest.Digest `json:"diffID,omitempty"`
}

// Inspect reads the archive ref names and describes it. Ancestors are looked up in the same
// store by digest; one that is missing (garbage collected, or never imported) is listed
// without names or type.
func Inspect(ctx context.Context, store repository.Store, ref string) (*Info, error) {
	a, err := Load(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	info := &Info{
		Name:             a.Config.Name,
		Type:             a.Config.Type,
		Architecture:     a.Config.Architecture,
		OS:               a.Config.OS,
		Created:          a.Config.Created,
		FlarecastVersion: a.Config.FlarecastVersion,
		Inputs:           a.Config.Inputs,
		Digest:           a.Descriptor.Digest,
		ManifestSize:     a.Descriptor.Size,
		Config:           SectionInfo{Name: "config", MediaType: a.Manifest.Config.MediaType, Digest: a.Manifest.Config.Digest, Size: a.Manifest.Config.Size},
		NodesGroup:       a.Config.NodesGroup,
		SoftwareLoad:     a.Config.SoftwareLoad,
	}
	info.Size = a.TotalSize()
	for _, s := range Sections(a.Manifest) {
		info.Sections = append(info.Sections, SectionInfo{
			Name: s.Name, MediaType: s.Descriptor.MediaType, Digest: s.Descriptor.Digest,
			Size: s.Descriptor.Size, DiffID: a.Config.DiffIDs[s.Name],
		})
	}
	if a.Config.SoftwareLoad != nil {
		info.SoftwareLoadDigest = a.Config.SoftwareLoad.Digest()
	}
	if len(a.Config.Lineage) > 0 {
		names, err := namesByDigest(ctx, store)
		if err != nil {
			return nil, err
		}
		for _, d := range a.Config.Lineage {
			e := LineageEntry{Digest: d, Names: names[d]}
			if anc, err := store.Resolve(ctx, d.String()); err == nil {
				if aa, err := LoadDescriptor(ctx, store, anc); err == nil {
					e.Type = aa.Config.Type
				}
			}
			info.Lineage = append(info.Lineage, e)
		}
	}
	return info, nil
}

func namesByDigest(ctx context.Context, store repository.Store) (map[digest.Digest][]string, error) {
	entries, err := store.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list archives: %w", err)
	}
	out := map[digest.Digest][]string{}
	for _, e := range entries {
		out[e.Descriptor.Digest] = append(out[e.Descriptor.Digest], e.Name)
	}
	return out, nil
}
