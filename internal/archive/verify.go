package archive

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
)

// Verified is one blob Verify read and found sound.
type Verified struct {
	Name   string        `json:"name"`
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	DiffID digest.Digest `json:"diffID,omitempty"`
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// Progress, when set, is called as section bytes are read, with the running total and the
	// sum of the section sizes.
	Progress func(done, total int64)
}

// Verify reads every byte of the archive ref names and checks it: the manifest and config
// against their digests, each section against its digest and size, and the tar inside each
// section against the diffID its config records. It stops at the first fault and names it.
func Verify(ctx context.Context, store repository.Store, ref string, opts VerifyOptions) ([]Verified, error) {
	a, err := Load(ctx, store, ref) // checks manifest and config digests
	if err != nil {
		return nil, err
	}
	out := []Verified{
		{Name: "manifest", Digest: a.Descriptor.Digest, Size: a.Descriptor.Size},
		{Name: "config", Digest: a.Manifest.Config.Digest, Size: a.Manifest.Config.Size},
	}
	var total, done int64
	for _, s := range Sections(a.Manifest) {
		total += s.Descriptor.Size
	}
	for _, s := range Sections(a.Manifest) {
		v, err := verifySection(ctx, store, s, a.Config.DiffIDs[s.Name], a.Config.TarSizes[s.Name], func(n int64) {
			done += n
			if opts.Progress != nil {
				opts.Progress(done, total)
			}
		})
		if err != nil {
			return out, fmt.Errorf("verify %s: section %s (%s): %w", ref, s.Name, s.Descriptor.Digest, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// verifySection reads a section once. The digest and size are the store's to check: its Fetch
// fails the last read of a blob that does not match its descriptor (the Store contract), so
// only the tar inside is hashed here.
func verifySection(ctx context.Context, store repository.Store, s Section, wantDiff digest.Digest, wantSize int64, progress func(int64)) (Verified, error) {
	rc, err := store.Fetch(ctx, s.Descriptor)
	if err != nil {
		return Verified{}, fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	raw := io.TeeReader(rc, &countWriter{progress: progress})
	diff, n, derr := DiffID(raw, wantSize)
	// The decoder may stop at the end of the last frame, or give up on damaged bytes; reading
	// on to the end is what lets the store's reader judge the blob, and its verdict (the
	// bytes are damaged) comes before the decoder's.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return Verified{}, fmt.Errorf("the blob is damaged: %w", err)
	}
	if derr != nil {
		return Verified{}, fmt.Errorf("the digest matches but the tar inside cannot be read: %w", derr)
	}
	if diff != wantDiff {
		return Verified{}, fmt.Errorf("the tar inside has diffID %s, the config says %s", diff, wantDiff)
	}
	if n != wantSize {
		return Verified{}, fmt.Errorf("the tar inside is %d bytes, the config says %d", n, wantSize)
	}
	return Verified{Name: s.Name, Digest: s.Descriptor.Digest, Size: s.Descriptor.Size, DiffID: diff}, nil
}

type countWriter struct {
	n        int64
	progress func(int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.progress != nil {
		c.progress(int64(len(p)))
	}
	return len(p), nil
}
