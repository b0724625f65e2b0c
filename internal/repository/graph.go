package repository

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize bounds what is read into memory as a manifest (the limit registries apply).
const maxManifestSize = 4 << 20

const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

func isManifest(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		mediaTypeDockerManifest, mediaTypeDockerManifestList, mediaTypeArtifactManifest:
		return true
	}
	return false
}

// manifestLinks is what the store needs of any manifest or index: the nodes it keeps alive and
// the subject it refers to (for referrers).
type manifestLinks struct {
	MediaType string               `json:"mediaType"`
	Config    *ocispec.Descriptor  `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Manifests []ocispec.Descriptor `json:"manifests"`
	Blobs     []ocispec.Descriptor `json:"blobs"` // artifact manifest
	Subject   *ocispec.Descriptor  `json:"subject"`
}

func parseLinks(desc ocispec.Descriptor, data []byte) (manifestLinks, error) {
	var m manifestLinks
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	return m, nil
}

// children are the descriptors a manifest holds alive, subject excluded.
func (m manifestLinks) children() []ocispec.Descriptor {
	var out []ocispec.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	out = append(out, m.Manifests...)
	return append(out, m.Blobs...)
}
