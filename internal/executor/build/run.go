package build

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// Result is what a build stored: the archive's manifest digest and its sections (the config
// included), as a FlashArchive's status shows them.
type Result struct {
	Digest       digest.Digest `json:"digest"`
	InputsDigest digest.Digest `json:"inputsDigest"`
	Size         int64         `json:"size"`
	Sections     []Section     `json:"sections"`
}

// Section is one blob of a stored archive.
type Section struct {
	Name      string        `json:"name"`
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// Options tune Run; the zero value uses http.DefaultClient.
type Options struct {
	HTTPClient *http.Client
}

// Run builds what the request asks and tags it in the repository.
func Run(ctx context.Context, req *Request, opts Options) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	store, err := repository.Open(ctx, req.Repository, repository.Options{})
	if err != nil {
		return nil, fmt.Errorf("build %s: open repository: %w", req.Archive, err)
	}
	defer store.Close()
	in := &req.Inputs
	inputs := map[string]string{InputInputsDigest: string(in.Digest()), InputFlashArchive: req.Archive}
	if in.Distribution != "" {
		inputs[InputDistribution] = in.Distribution
	}
	var desc digest.Digest
	switch in.Type {
	case archive.Generic:
		inputs[InputRootfsURL], inputs[InputRootfsDigest] = in.Rootfs.URL, string(in.Rootfs.Digest)
		f, cleanup, err := openRootfs(ctx, in.Rootfs, opts.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", req.Archive, err)
		}
		defer cleanup()
		d, _, err := archive.Create(ctx, store, tarball.TarSource(f), archive.CreateOptions{
			Name: req.Tag, Architecture: in.Arch, OS: "linux", Inputs: inputs,
		})
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", req.Archive, err)
		}
		desc = d.Digest
	default:
		res, err := archive.Derive(ctx, store, archive.DeriveOptions{
			Base: string(in.Base), Name: req.Tag, Type: in.Type,
			Configuration: in.Configuration.archive(), Cluster: in.Cluster.archive(),
			SoftwareLoad: in.SoftwareLoad, NodesGroup: in.NodesGroup, Inputs: inputs,
		})
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", req.Archive, err)
		}
		desc = res.Descriptor.Digest
	}
	return Describe(ctx, store, string(desc), in.Digest())
}

// Describe reads an archive back from the store (by name or digest) and checks that it was
// built from the inputs expected: an archive tagged by an older build, or by someone else, is
// not mistaken for the result.
func Describe(ctx context.Context, store repository.Store, ref string, inputsDigest digest.Digest) (*Result, error) {
	a, err := archive.Load(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	if got := a.Config.Inputs[InputInputsDigest]; got != string(inputsDigest) {
		return nil, fmt.Errorf("archive %s was built from inputs %q, not %s", ref, got, inputsDigest)
	}
	res := &Result{Digest: a.Descriptor.Digest, InputsDigest: inputsDigest}
	cfg := a.Manifest.Config
	res.Sections = append(res.Sections, Section{Name: "config", MediaType: cfg.MediaType, Digest: cfg.Digest, Size: cfg.Size})
	for _, s := range archive.Sections(a.Manifest) {
		res.Sections = append(res.Sections, Section{Name: s.Name, MediaType: s.Descriptor.MediaType, Digest: s.Descriptor.Digest, Size: s.Descriptor.Size})
	}
	for _, s := range res.Sections {
		res.Size += s.Size
	}
	return res, nil
}
