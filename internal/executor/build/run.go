package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

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

// Options tune Run.
type Options struct {
	// WorkDir holds what the build writes besides the repository (a downloaded tarball, the
	// spool of a repacked tar), in a directory of its own that Run removes when it returns.
	// Required: the executor gives its state directory, never the system's temporary one, so
	// that what a build leaves when it is killed is found and removed.
	WorkDir string
	// Progress, when set, hears how far the build has got (calls come from one goroutine).
	Progress func(Progress)
}

// Run builds what the request asks and tags it in the repository, within the request's
// limits: a bound that passes ends it with a *Failure.
func Run(ctx context.Context, req *Request, opts Options) (*Result, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if opts.WorkDir == "" {
		return nil, fmt.Errorf("build %s: a work directory is required", req.Archive)
	}
	if err := os.MkdirAll(opts.WorkDir, 0o700); err != nil {
		return nil, fmt.Errorf("build %s: work directory: %w", req.Archive, err)
	}
	work, err := os.MkdirTemp(opts.WorkDir, "build-")
	if err != nil {
		return nil, fmt.Errorf("build %s: work directory: %w", req.Archive, err)
	}
	defer os.RemoveAll(work)
	lim := req.Limits.withDefaults()
	cause := &timeoutError{reason: ReasonBuildTimeout, after: lim.BuildTimeout, what: "the build took longer than its buildTimeout"}
	ctx, cancel := context.WithTimeoutCause(ctx, lim.BuildTimeout, cause)
	defer cancel()
	res, err := run(ctx, req, lim, work, opts.Progress)
	if err != nil && errors.Is(context.Cause(ctx), cause) {
		if _, ok := AsFailure(err); !ok {
			err = failure(ReasonBuildTimeout, 0, "build %s: %s: %v", req.Archive, cause, err)
		}
	}
	return res, err
}

func run(ctx context.Context, req *Request, lim Limits, work string, progress func(Progress)) (*Result, error) {
	inputsDigest, err := req.inputsDigest()
	if err != nil {
		return nil, err
	}
	store, err := repository.Open(ctx, req.Repository, repository.Options{})
	if err != nil {
		return nil, fmt.Errorf("build %s: open repository: %w", req.Archive, err)
	}
	defer store.Close()
	in := &req.Inputs
	inputs := map[string]string{InputInputsDigest: string(inputsDigest), InputFlashArchive: req.Archive}
	if in.Distribution != "" {
		inputs[InputDistribution] = in.Distribution
	}
	var desc digest.Digest
	switch in.Type {
	case archive.Generic:
		var (
			src     tarball.Source
			what    string
			cleanup = func() {}
			created *time.Time
			guard   *stallGuard
		)
		switch {
		case in.Build != nil:
			what = "build root"
			var root *rootDir
			if root, err = buildRoot(ctx, in.Build, in.Arch, lim, work, req.DockerConfig, inputs, progress); err == nil {
				src = root.source()
			}
			t := time.Unix(in.Build.SourceDateEpoch, 0)
			created = &t
		case in.Image != nil:
			what = "image " + in.Image.Ref
			guard = newStallGuard(nil, lim)
			var r io.Reader
			r, cleanup, err = openImage(ctx, in.Image, in.Arch, lim, guard, work, req.DockerConfig, inputs)
			err = guard.failure(err, "build "+req.Archive+": "+what)
			src = tarball.TarSource(r)
		default:
			what = "rootfs " + in.Rootfs.URL
			inputs[InputRootfsURL], inputs[InputRootfsDigest] = in.Rootfs.URL, string(in.Rootfs.Digest)
			var f *os.File
			f, cleanup, err = openRootfs(ctx, in.Rootfs, lim, work, progress)
			src = tarball.TarSource(f)
		}
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", req.Archive, err)
		}
		defer cleanup()
		var packed int64
		report := progressOf(progress, StagePack, 0)
		d, _, err := archive.Create(ctx, store, src, archive.CreateOptions{
			Name: req.Tag, Architecture: in.Arch, OS: "linux", Inputs: inputs, Created: created,
			TempDir: work, MaxBytes: lim.MaxSize,
			Progress: func(n int64) { packed += n; report(packed) },
		})
		if errors.Is(err, tarball.ErrTooLarge) {
			return nil, failure(ReasonSourceTooLarge, packed, "build %s: %s unpacks to more than the %s maxSize allows; stopped there", req.Archive, what, sizeOf(lim.MaxSize))
		}
		if guard != nil {
			err = guard.failure(err, "build "+req.Archive+": "+what)
		}
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
	return Describe(ctx, store, string(desc), inputsDigest)
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
