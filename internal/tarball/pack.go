package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
)

// Pack writes src to w as a deterministic tar (see the package documentation for what that
// means), compressed as opts say, and returns what it wrote. It does not close w.
func Pack(ctx context.Context, src Source, w io.Writer, opts PackOptions) (Stats, error) {
	var st Stats
	if (src.dir == "") == (src.tar == nil) {
		return st, errors.New("pack: the source must be a directory or a tar stream")
	}
	out, err := newSink(w, opts.Compression, opts.Level)
	if err != nil {
		return st, fmt.Errorf("pack %s: %w", src, err)
	}
	tw := tar.NewWriter(out)
	if src.tar != nil && opts.Stream {
		err = packTarStream(ctx, src.tar, tw, opts, &st)
	} else if src.tar != nil {
		err = packTar(ctx, src.tar, tw, opts, &st)
	} else {
		err = packDir(ctx, src.dir, src.devices, tw, opts, &st)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("pack %s: %w", src, err)
	}
	st.DiffID, st.TarBytes, st.OutputBytes = out.sums()
	return st, nil
}
