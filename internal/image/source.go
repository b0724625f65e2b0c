package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/flarecast/flarecast/internal/repository"
)

// Reference prefixes for the sources that are not a registry.
const (
	// LayoutPrefix names an OCI image layout directory: oci:DIR[:TAG|@DIGEST].
	LayoutPrefix = "oci:"
	// ArchivePrefix names an oci-archive file (an OCI layout in a tar): oci-archive:FILE[:TAG|@DIGEST].
	ArchivePrefix = "oci-archive:"
	// RegistryPrefix may precede a registry reference, as skopeo and podman write it.
	RegistryPrefix = "docker://"
)

// Media types of Docker's schema 2, which registries still serve for most images.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxManifestSize bounds what is read of a manifest, index or config: the distribution spec
// lets registries refuse manifests over 4 MiB, and no real config comes near it.
const maxManifestSize = 4 << 20

// Options are how to reach a registry.
type Options struct {
	// DockerConfig is the path of a docker config.json with the registry's credentials;
	// empty, the user's docker config (DOCKER_CONFIG, ~/.docker/config.json) if there is one.
	DockerConfig string
	// PlainHTTP talks HTTP instead of HTTPS to the registry; loopback registries always do.
	PlainHTTP bool
	// Client makes the registry's requests (a build's bounded client); empty, oras-go's
	// retrying default.
	Client *http.Client
}

// Source is an opened image reference: a store to read blobs from and the descriptor the
// reference resolved to (a manifest or an index).
type Source struct {
	Ref  string
	Root ocispec.Descriptor
	// TagOrDigest is the reference's tag or digest inside its store.
	TagOrDigest string
	store       oras.ReadOnlyTarget
}

// Open resolves ref: a registry reference (host[:port]/repository[:tag|@digest], optionally
// prefixed docker://), oci:DIR[:tag|@digest] or oci-archive:FILE[:tag|@digest]. Without a tag
// a layout or archive must hold exactly one image.
func Open(ctx context.Context, ref string, opts Options) (*Source, error) {
	var (
		store oras.ReadOnlyTarget
		inner string
		err   error
	)
	switch {
	case strings.HasPrefix(ref, LayoutPrefix):
		var dir string
		dir, inner = splitLocal(strings.TrimPrefix(ref, LayoutPrefix))
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		// Read-only: a layout the user gave is never rewritten (oci.New would save its index).
		store, err = oci.NewFromFS(ctx, os.DirFS(dir))
	case strings.HasPrefix(ref, ArchivePrefix):
		var file string
		file, inner = splitLocal(strings.TrimPrefix(ref, ArchivePrefix))
		store, err = oci.NewFromTar(ctx, file)
	default:
		store, inner, err = openRegistry(strings.TrimPrefix(ref, RegistryPrefix), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if inner == "" {
		inner, err = onlyTag(ctx, store)
		if err != nil {
			// A layout written without a tag (crane pull --format=oci) names its one image
			// only in index.json.
			if only, ok := onlyManifest(ref); ok {
				inner, err = only, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
	}
	root, err := store.Resolve(ctx, inner)
	if err != nil {
		return nil, fmt.Errorf("image %s: resolve %q: %w", ref, inner, err)
	}
	return &Source{Ref: ref, Root: root, TagOrDigest: inner, store: store}, nil
}

// splitLocal splits PATH[:tag|@digest]. A path holding ':' must name a tag to be read right.
func splitLocal(s string) (path, ref string) {
	if i := strings.LastIndex(s, "@"); i >= 0 && strings.HasPrefix(s[i+1:], "sha256:") {
		return s[:i], s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func openRegistry(ref string, opts Options) (oras.ReadOnlyTarget, string, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, "", fmt.Errorf("%w (a registry image is host[:port]/repository[:tag|@digest]; a layout is %sDIR, an archive %sFILE)",
			err, LayoutPrefix, ArchivePrefix)
	}
	if r.Reference == "" {
		r.Reference = "latest"
	}
	creds, err := repository.DockerCredentials(opts.DockerConfig)
	if err != nil {
		return nil, "", err
	}
	client := retry.DefaultClient
	if opts.Client != nil {
		client = opts.Client
	}
	repo := &remote.Repository{
		Reference: r,
		PlainHTTP: opts.PlainHTTP || repository.LoopbackHost(r.Host()),
		Client: &auth.Client{
			Client:     client,
			Cache:      auth.NewCache(),
			Credential: credentials.Credential(creds),
		},
	}
	return repo, r.Reference, nil
}

// onlyTag is the single tag of a layout or archive, which a reference without one means.
func onlyTag(ctx context.Context, store oras.ReadOnlyTarget) (string, error) {
	lister, ok := store.(interface {
		Tags(ctx context.Context, last string, fn func(tags []string) error) error
	})
	if !ok {
		return "", errors.New("name a tag or a digest")
	}
	var tags []string
	if err := lister.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil }); err != nil {
		return "", err
	}
	switch len(tags) {
	case 1:
		return tags[0], nil
	case 0:
		return "", errors.New("it holds no tagged image: name a digest (…@sha256:…)")
	default:
		return "", fmt.Errorf("it holds %d tagged images (%s): name one (…:TAG)", len(tags), strings.Join(tags, ", "))
	}
}

// onlyManifest is the digest of the one manifest or index a layout's or archive's index.json
// lists, if it lists exactly one.
func onlyManifest(ref string) (string, bool) {
	var data []byte
	switch {
	case strings.HasPrefix(ref, LayoutPrefix):
		dir, _ := splitLocal(strings.TrimPrefix(ref, LayoutPrefix))
		b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
		if err != nil {
			return "", false
		}
		data = b
	case strings.HasPrefix(ref, ArchivePrefix):
		file, _ := splitLocal(strings.TrimPrefix(ref, ArchivePrefix))
		b, err := fileInTar(file, ocispec.ImageIndexFile)
		if err != nil {
			return "", false
		}
		data = b
	default:
		return "", false
	}
	var idx ocispec.Index
	if json.Unmarshal(data, &idx) != nil || len(idx.Manifests) != 1 {
		return "", false
	}
	return idx.Manifests[0].Digest.String(), true
}

// fileInTar reads one small file of a tar (index.json of an oci-archive).
func fileInTar(file, name string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, err
		}
		if path.Clean(strings.TrimLeft(h.Name, "/")) == name {
			return io.ReadAll(io.LimitReader(tr, maxManifestSize))
		}
	}
}

// Platform is the os/architecture[/variant] an archive is for.
type Platform struct {
	OS, Architecture, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Image is one platform's manifest of a Source, its config and its layers.
type Image struct {
	Ref string
	// Digest is the manifest's; IndexDigest the index's it was picked from, if any.
	Digest, IndexDigest digest.Digest
	Platform            Platform
	Config              ocispec.Image
	Layers              []ocispec.Descriptor
	store               oras.ReadOnlyTarget
}

// Image picks the manifest for platform (following an index) and reads its config.
func (s *Source) Image(ctx context.Context, want Platform) (*Image, error) {
	desc := s.Root
	var index digest.Digest
	if isIndex(desc.MediaType) {
		var idx ocispec.Index
		if err := s.readJSON(ctx, desc, &idx); err != nil {
			return nil, err
		}
		picked, err := pick(idx, want)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", s.Ref, err)
		}
		index, desc = desc.Digest, picked
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest && desc.MediaType != dockerManifest {
		return nil, fmt.Errorf("image %s: %s is a %s, not an image manifest", s.Ref, desc.Digest, desc.MediaType)
	}
	var m ocispec.Manifest
	if err := s.readJSON(ctx, desc, &m); err != nil {
		return nil, err
	}
	im := &Image{Ref: s.Ref, Digest: desc.Digest, IndexDigest: index, Layers: m.Layers, store: s.store}
	if err := s.readJSON(ctx, m.Config, &im.Config); err != nil {
		return nil, err
	}
	im.Platform = Platform{OS: im.Config.OS, Architecture: im.Config.Architecture, Variant: im.Config.Variant}
	if im.Platform.OS != want.OS || im.Platform.Architecture != want.Architecture {
		return nil, fmt.Errorf("image %s is for %s, not %s", s.Ref, im.Platform, want)
	}
	if len(im.Config.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: its config lists %d diff_ids for %d layers", s.Ref, len(im.Config.RootFS.DiffIDs), len(m.Layers))
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("image %s has no layers: there is no root file system to archive", s.Ref)
	}
	return im, nil
}

func isIndex(mt string) bool { return mt == ocispec.MediaTypeImageIndex || mt == dockerManifestList }

// pick is the index's manifest for want; a variant is compared only when both name one
// (arm64 images say v8 or nothing).
func pick(idx ocispec.Index, want Platform) (ocispec.Descriptor, error) {
	var have []string
	for _, m := range idx.Manifests {
		p := m.Platform
		if p == nil {
			continue
		}
		have = append(have, Platform{p.OS, p.Architecture, p.Variant}.String())
		if p.OS == want.OS && p.Architecture == want.Architecture && (want.Variant == "" || p.Variant == "" || p.Variant == want.Variant) {
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("its index has no manifest for %s (it has: %s)", want, strings.Join(have, ", "))
}

func (s *Source) readJSON(ctx context.Context, desc ocispec.Descriptor, v any) error {
	if desc.Size > maxManifestSize {
		return fmt.Errorf("image %s: %s is %d bytes, over the %d a manifest or config may have", s.Ref, desc.Digest, desc.Size, maxManifestSize)
	}
	data, err := content.FetchAll(ctx, s.store, desc)
	if err != nil {
		return fmt.Errorf("image %s: read %s: %w", s.Ref, desc.Digest, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("image %s: %s: %w", s.Ref, desc.Digest, err)
	}
	return nil
}

// layerReader is a layer blob being read: Verify, once everything is read, checks it against
// its descriptor's digest and size.
type layerReader struct {
	*content.VerifyReader
	io.Closer
}

// openLayer fetches layer i.
func (im *Image) openLayer(ctx context.Context, i int) (*layerReader, error) {
	desc := im.Layers[i]
	rc, err := im.store.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("layer %d (%s): %w", i, desc.Digest, err)
	}
	return &layerReader{content.NewVerifyReader(rc, desc), rc}, nil
}
