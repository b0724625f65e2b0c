package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/klauspost/compress/zstd"

	"github.com/flarecast/flarecast/internal/repository"
)

// ReadSectionFiles reads the regular files of a small section (configuration, cluster) that
// want selects by their path relative to the node's root (etc/flarecast/plans/n1.json). The
// section is fetched whole and checked against its digest, its tar read no further than the
// size the config records, and each file kept is at most limit bytes: this is for metadata
// the install server serves (the per-node plans), never for the archive section.
func ReadSectionFiles(ctx context.Context, store repository.Store, a *Archive, section string, want func(name string) bool, limit int64) (map[string][]byte, error) {
	desc, ok := a.Section(section)
	if !ok {
		return nil, fmt.Errorf("archive %s has no %s section", a.Descriptor.Digest, section)
	}
	if section == SectionArchive {
		return nil, errors.New("the archive section is not read whole: it is the system image")
	}
	blob, err := fetchSmall(ctx, store, desc, maxSmallSection)
	if err != nil {
		return nil, fmt.Errorf("%s section: %w", section, err)
	}
	dec, err := zstd.NewReader(bytes.NewReader(blob), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return nil, fmt.Errorf("%s section: %w", section, err)
	}
	defer dec.Close()
	tr := tar.NewReader(io.LimitReader(dec, a.Config.TarSizes[section]))
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", section, err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !want(name) {
			continue
		}
		if h.Size > limit {
			return nil, fmt.Errorf("%s section: %s holds %d bytes, more than the %d allowed", section, name, h.Size, limit)
		}
		b, err := io.ReadAll(io.LimitReader(tr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("%s section: read %s: %w", section, name, err)
		}
		out[name] = b
	}
}

// maxSmallSection bounds a configuration or cluster section read whole into memory.
const maxSmallSection = 256 << 20
