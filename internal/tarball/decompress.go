package tarball

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// decompressed returns the tar inside r, which may be zstd, gzip or plain, told apart by their
// magic numbers (a tar starts with a file name, which cannot start with those bytes in
// practice). kind is "zstd", "gzip" or "" for plain; release frees the decoder.
func decompressed(r io.Reader) (tarStream io.Reader, kind string, release func(), err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", nil, fmt.Errorf("read: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		// 128 MiB is the largest window the zstd CLI accepts by default; a bigger one is a
		// way to make a decoder allocate without bound.
		dec, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, "", nil, fmt.Errorf("zstd: %w", err)
		}
		return dec, "zstd", dec.Close, nil
	case bytes.HasPrefix(head, gzipMagic):
		dec, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", nil, fmt.Errorf("gzip: %w", err)
		}
		return dec, "gzip", func() { dec.Close() }, nil
	}
	return br, "", func() {}, nil
}
