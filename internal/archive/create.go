package archive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/version"
)

// ErrEmptySource is Create's refusal of a source that holds nothing but, at most, its root
// directory.
var ErrEmptySource = errors.New("the source is empty (no file, link, device or directory besides its root): refusing to create an empty archive")

// CreateOptions describe a generic archive to create.
type CreateOptions struct {
	// Name identifies the archive; it is also the tag unless Tag is set.
	Name         string
	Tag          string
	Architecture string
	OS           string
	Inputs       map[string]string
	// Created is recorded in the config (in UTC, whole seconds) and is the modification time
	// of every entry of the binary section; nil records no date and packs every entry at
	// 1970-01-01.
	Created *time.Time
	// Level is the zstd level (0: the tarball default).
	Level int
	// Progress is called with the number of file-content bytes read from the source.
	Progress func(n int64)
	// TempDir and MaxBytes are the tarball.PackOptions of a tar source: where its contents
	// spool, and the bound of its uncompressed size.
	TempDir  string
	MaxBytes int64
	// Stream packs a tar source as it is read and never spools it, even when it cannot be
	// rewound (a request body): one out of canonical order fails with tarball.ErrNotCanonical
	// and stores nothing.
	Stream bool
}

// Create packs a root file system (a directory or a tar stream) into the binary section of a
// new generic archive in store, and names it. The section streams into the store as it is
// packed: memory does not grow with the image.
func Create(ctx context.Context, store repository.Store, src tarball.Source, opts CreateOptions) (ocispec.Descriptor, tarball.Stats, error) {
	if opts.Name == "" {
		return ocispec.Descriptor{}, tarball.Stats{}, fmt.Errorf("create: the archive needs a name")
	}
	if err := repository.ValidateName(tagOf(opts.Tag, opts.Name)); err != nil {
		return ocispec.Descriptor{}, tarball.Stats{}, fmt.Errorf("create: %w", err)
	}
	if opts.Architecture == "" || opts.OS == "" {
		return ocispec.Descriptor{}, tarball.Stats{}, fmt.Errorf("create %s: architecture and os are required", opts.Name)
	}
	opts.Created = canonicalCreated(opts.Created)
	layer, stats, err := packInto(ctx, store, src, opts)
	if err != nil {
		return ocispec.Descriptor{}, stats, fmt.Errorf("create %s from %s: %w", opts.Name, src, err)
	}
	cfg := &Config{
		SchemaVersion:    ConfigSchemaVersion,
		Name:             opts.Name,
		Type:             Generic,
		Architecture:     opts.Architecture,
		OS:               opts.OS,
		Created:          opts.Created,
		Inputs:           maps.Clone(opts.Inputs),
		FlarecastVersion: version.Version,
		DiffIDs:          map[string]digest.Digest{SectionArchive: digest.Digest(stats.DiffID)},
		TarSizes:         map[string]int64{SectionArchive: stats.TarBytes},
	}
	desc, err := writeArchive(ctx, store, cfg, []Section{{Name: SectionArchive, Descriptor: layer}}, tagOf(opts.Tag, opts.Name), nil)
	return desc, stats, err
}

// packInto packs src into a new blob of store. A tar source that can be rewound (a file) is
// streamed first, without a spool, and packed again spooled only when its entries are not
// nearly in canonical order (mmdebstrap's and GNU tar --sort=name's are): the same bytes
// either way, and most real root file systems read once.
func packInto(ctx context.Context, store repository.Store, src tarball.Source, opts CreateOptions) (ocispec.Descriptor, tarball.Stats, error) {
	if opts.Stream {
		return packOnce(ctx, store, src, opts, true)
	}
	rewind, ok := src.Rewind()
	if !ok {
		return packOnce(ctx, store, src, opts, false)
	}
	desc, stats, err := packOnce(ctx, store, src, opts, true)
	if !errors.Is(err, tarball.ErrNotCanonical) {
		return desc, stats, err
	}
	if err := rewind(); err != nil {
		return ocispec.Descriptor{}, tarball.Stats{}, fmt.Errorf("rewind the tar source to spool it: %w", err)
	}
	return packOnce(ctx, store, src, opts, false)
}

func packOnce(ctx context.Context, store repository.Store, src tarball.Source, opts CreateOptions, stream bool) (ocispec.Descriptor, tarball.Stats, error) {
	ing, err := store.Ingest(ctx)
	if err != nil {
		return ocispec.Descriptor{}, tarball.Stats{}, err
	}
	defer ing.Abort() // no-op after Commit
	popts := tarball.PackOptions{Level: opts.Level, Progress: opts.Progress, TempDir: opts.TempDir, MaxBytes: opts.MaxBytes, Stream: stream}
	if opts.Created != nil {
		popts.SourceDateEpoch = opts.Created.Unix()
	}
	stats, err := tarball.Pack(ctx, src, ing, popts)
	if err != nil {
		return ocispec.Descriptor{}, stats, err
	}
	// As GNU tar refuses to create an empty archive: an empty source is a wrong path or a
	// failed step before this one, and its archive would install an empty root file system.
	if stats.Entries() == 0 || stats.Entries() == 1 && stats.Dirs == 1 {
		return ocispec.Descriptor{}, stats, ErrEmptySource
	}
	layer, err := ing.Commit(ctx, MediaTypeArchiveLayer)
	if err != nil {
		return ocispec.Descriptor{}, stats, fmt.Errorf("store the %s section: %w", SectionArchive, err)
	}
	// The ingester's digest is the layer's; the packer does not hash its output a second time.
	if layer.Size != stats.OutputBytes {
		return ocispec.Descriptor{}, stats, fmt.Errorf("the store recorded %s (%d bytes) but the packer wrote %d bytes", layer.Digest, layer.Size, stats.OutputBytes)
	}
	return layer, stats, nil
}

// canonicalCreated is t in UTC and whole seconds: the config records the instant, never the
// caller's time zone, and no more precisely than the tar's modification times (seconds).
func canonicalCreated(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := time.Unix(t.Unix(), 0).UTC()
	return &c
}

// CreatedFromEnv reads SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/):
// nil when unset, so no archive ever carries the clock's time unless asked to.
func CreatedFromEnv() (*time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return nil, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	t := time.Unix(sec, 0).UTC()
	return &t, nil
}
