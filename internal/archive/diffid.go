package archive

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
)

// DiffID reads a section's compressed bytes and returns the sha256 of the tar inside (the OCI
// diff_id) and its length. Every section of this format is zstd-compressed. With maxBytes > 0
// it stops one byte past maxBytes and refuses the section (ErrTarTooLarge), so a section that
// expands without end costs no more than its recorded size to read.
func DiffID(compressed io.Reader, maxBytes int64) (digest.Digest, int64, error) {
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
	var r io.Reader = dec
	if maxBytes > 0 {
		// One byte past the bound is enough to know the tar is larger than it says.
		r = io.LimitReader(dec, maxBytes+1)
	}
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	if err != nil {
		return "", n, fmt.Errorf("decompress after %d bytes: %w", n, err)
	}
	if maxBytes > 0 && n > maxBytes {
		return "", n, fmt.Errorf("the tar inside is larger than the %d bytes the config gives it: %w", maxBytes, ErrTarTooLarge)
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}

// ErrTarTooLarge says a section expanded past the tar size its config records.
var ErrTarTooLarge = errors.New("section larger than its recorded tar size")
