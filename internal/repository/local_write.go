package repository

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Push stores a blob whose descriptor is known. Nothing lands unless size and digest match.
// A blob already present gives errdef.ErrAlreadyExists (oras copy treats that as success) and
// restarts its GC grace period, since the caller is about to reference it.
func (s *Local) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	if s.readOnly {
		return refuseWrite("push "+expected.Digest.String()+" to", s.root)
	}
	if err := validDigest(expected.Digest); err != nil {
		return err
	}
	if expected.Size < 0 {
		return fmt.Errorf("push %s: negative size: %w", expected.Digest, content.ErrInvalidDescriptorSize)
	}
	final := s.BlobPath(expected.Digest)
	present, err := s.touchBlob(final)
	if err != nil {
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	if present {
		// A writer may have died between landing a referrer and recording it; the caller
		// takes "already exists" for done, so the record is made now or never.
		if err := s.recordExistingReferrer(expected); err != nil {
			return fmt.Errorf("push %s: %w", expected.Digest, err)
		}
		return fmt.Errorf("push %s: %w", expected.Digest, errdef.ErrAlreadyExists)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	f, err := createLockedTemp(dir)
	if err != nil {
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	var manifest *bytes.Buffer
	w := io.Writer(f)
	if isManifest(expected.MediaType) && expected.Size <= maxManifestSize {
		manifest = &bytes.Buffer{}
		w = io.MultiWriter(f, manifest)
	}
	verifier := expected.Digest.Verifier()
	n, err := io.Copy(io.MultiWriter(w, verifier), io.LimitReader(ctxReader{ctx, r}, expected.Size+1))
	switch {
	case err != nil:
		err = fmt.Errorf("push %s: %w", expected.Digest, err)
	case n != expected.Size:
		err = fmt.Errorf("push %s: got %d bytes, descriptor says %d: %w", expected.Digest, n, expected.Size, content.ErrInvalidDescriptorSize)
	case !verifier.Verified():
		err = fmt.Errorf("push %s: content does not match the digest: %w", expected.Digest, content.ErrMismatchedDigest)
	}
	if err != nil {
		discardTemp(f)
		return err
	}
	if err := s.commitBlob(f, final); err != nil {
		discardTemp(f)
		return fmt.Errorf("push %s: %w", expected.Digest, err)
	}
	if manifest != nil {
		return s.recordReferrer(expected, manifest.Bytes())
	}
	return nil
}

// A blob lands (commitBlob) or has its grace restarted (touchBlob) under the store lock held
// shared. GC holds it exclusively from listing garbage to removing it, so it never removes a
// blob a writer has just stored or reused: the writer either comes first (the blob is young
// and spared) or after (the blob is gone and written again).

// touchBlob restarts the GC grace of the blob at path and reports whether it is there.
func (s *Local) touchBlob(path string) (bool, error) {
	l, err := lockFileShared(filepath.Join(s.root, lockFileName))
	if err != nil {
		return false, err
	}
	defer l.unlock()
	if _, err := os.Stat(path); err != nil {
		return false, nil
	}
	now := time.Now()
	os.Chtimes(path, now, now)
	return true, nil
}

// commitBlob renames a written temp file into place as the blob at path.
func (s *Local) commitBlob(f *os.File, path string) error {
	l, err := lockFileShared(filepath.Join(s.root, lockFileName))
	if err != nil {
		return err
	}
	defer l.unlock()
	return commitTemp(f, path)
}

// recordExistingReferrer records a manifest already in the store when it is a referrer.
func (s *Local) recordExistingReferrer(desc ocispec.Descriptor) error {
	if !isManifest(desc.MediaType) || desc.Size > maxManifestSize {
		return nil
	}
	data, err := os.ReadFile(s.BlobPath(desc.Digest))
	if err != nil {
		return err
	}
	return s.recordReferrer(desc, data)
}

// Ingest starts a blob whose digest is computed while it is written.
func (s *Local) Ingest(ctx context.Context) (Ingester, error) {
	if s.readOnly {
		return nil, refuseWrite("ingest into", s.root)
	}
	dir := filepath.Join(s.root, "blobs", digest.Canonical.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	f, err := createLockedTemp(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &localIngester{s: s, hashedTemp: newHashedTemp(f)}, nil
}

type localIngester struct {
	hashedTemp
	s *Local
}

func (in *localIngester) Commit(_ context.Context, mediaType string) (ocispec.Descriptor, error) {
	desc, err := in.seal(mediaType)
	if err != nil {
		return desc, err
	}
	if err := in.s.commitBlob(in.f, in.s.BlobPath(desc.Digest)); err != nil {
		discardTemp(in.f)
		return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
	}
	if err := in.s.recordExistingReferrer(desc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
	}
	return desc, nil
}

func (in *localIngester) Abort() error {
	if in.done {
		return nil
	}
	in.done = true
	return discardTemp(in.f)
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
