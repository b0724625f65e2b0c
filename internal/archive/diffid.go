package archive

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// DiffID reads a section's compressed bytes and returns the sha256 of the tar inside (the OCI
// diff_id) and its length. Every section of this format is zstd-compressed.
func DiffID(compressed io.Reader) (digest.Digest, int64, error) {
	// One goroutine: verification runs beside other work (a copy, an import) and must not
	// take every core from it; a single decoder goroutine already outruns a disk.
	// The window bound is the one tarball.Extract uses: our sections never need more, and a
	// hostile import file cannot make the decoder allocate hundreds of MiB.
	dec, err := zstd.NewReader(compressed, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return "", 0, fmt.Errorf("zstd: %w", err)
	}
	defer dec.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, dec, make([]byte, 256<<10))
	if err != nil {
		return "", n, fmt.Errorf("decompress after %d bytes: %w", n, err)
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}
