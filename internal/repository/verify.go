package repository

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// verifyingReader passes a blob through and, at its end, fails unless exactly desc.Size bytes
// with digest desc.Digest went by. Callers that stop early get no verdict.
type verifyingReader struct {
	r        io.Reader
	c        io.Closer
	desc     ocispec.Descriptor
	verifier digest.Verifier
	n        int64
	err      error
}

func newVerifyingReader(rc io.ReadCloser, desc ocispec.Descriptor) *verifyingReader {
	return &verifyingReader{r: rc, c: rc, desc: desc, verifier: desc.Digest.Verifier()}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.verifier.Write(p[:n])
	v.n += int64(n)
	if v.n > v.desc.Size {
		v.err = fmt.Errorf("blob %s: more than the %d bytes its descriptor says: %w", v.desc.Digest, v.desc.Size, content.ErrTrailingData)
		return n, v.err
	}
	if err == io.EOF {
		switch {
		case v.n != v.desc.Size:
			v.err = fmt.Errorf("blob %s: %d bytes, descriptor says %d: %w", v.desc.Digest, v.n, v.desc.Size, io.ErrUnexpectedEOF)
		case !v.verifier.Verified():
			v.err = fmt.Errorf("blob %s is corrupt: content does not match its digest: %w", v.desc.Digest, content.ErrMismatchedDigest)
		default:
			v.err = io.EOF
		}
		return n, v.err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.c.Close() }

// Verify reads the blob of desc from f to its end and checks its size and digest.
func Verify(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor) error {
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return fmt.Errorf("verify %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	verifier := desc.Digest.Verifier()
	n, err := io.Copy(verifier, ctxReader{ctx, rc})
	if err != nil {
		return fmt.Errorf("verify %s: %w", desc.Digest, err)
	}
	if n != desc.Size {
		return fmt.Errorf("verify %s: %d bytes, descriptor says %d: %w", desc.Digest, n, desc.Size, content.ErrInvalidDescriptorSize)
	}
	if !verifier.Verified() {
		return fmt.Errorf("verify %s: content does not match its digest: %w", desc.Digest, content.ErrMismatchedDigest)
	}
	return nil
}
