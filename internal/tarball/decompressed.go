package tarball

import "io"

// Decompressed is the tar inside r, which may be zstd (with the same 128 MiB window bound as
// Extract), gzip or plain, told apart by their magic numbers; release frees the decoder. It is
// for readers of tar streams that are not archives (an OCI image's layers).
func Decompressed(r io.Reader) (tarStream io.Reader, release func(), err error) {
	t, _, release, err := decompressed(r)
	return t, release, err
}
