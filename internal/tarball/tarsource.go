package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
)

// tarSource reads the entries of a TarSource for packing, spooled or streamed alike:
// decompressed, within PackOptions.MaxBytes, each header normalized.
type tarSource struct {
	tr   *tar.Reader
	opts PackOptions
	prev string // the last entry's name, for an error reading the next
	// xattrBytes counts the PAX records of the headers read: both packs hold headers in
	// memory (until the sort, or in the hold window), bounded by maxHeldXattrBytes.
	xattrBytes int64
}

// openTarSource reads r, compressed or not; release frees the decompressor.
func openTarSource(r io.Reader, opts PackOptions) (src *tarSource, release func(), err error) {
	tarStream, _, release, err := decompressed(r)
	if err != nil {
		return nil, nil, err
	}
	if opts.MaxBytes > 0 {
		tarStream = &limitReader{r: tarStream, left: opts.MaxBytes}
	}
	return &tarSource{tr: tar.NewReader(tarStream), opts: opts, prev: "(start of stream)"}, release, nil
}

// next is the next entry's header, normalized, its content to be read from s.tr; io.EOF
// after the last. A global header is skipped, a sparse file is a regular one (the reader
// fills the holes with zeros).
func (s *tarSource) next(ctx context.Context) (*tar.Header, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := s.tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("read tar entry after %s: %w", s.prev, err)
		}
		s.prev = hdr.Name
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeGNUSparse:
			hdr.Typeflag = tar.TypeReg
		}
		if err := Normalize(hdr, s.opts.SourceDateEpoch, s.opts.PreserveTimes); err != nil {
			return nil, err
		}
		for _, v := range hdr.PAXRecords {
			s.xattrBytes += int64(len(v))
		}
		if s.xattrBytes > maxHeldXattrBytes {
			return nil, fmt.Errorf("%s: the entries hold more than %d MiB of xattrs in all, more than a root file system has", hdr.Name, maxHeldXattrBytes>>20)
		}
		return hdr, nil
	}
}
