package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
)

// checkAcrossSections refuses a cluster section that cannot be applied over the configuration
// section below it: a cluster file where a configuration file needs a directory (one of its
// parents), or below a configuration file. Each section is checked alone when it is made;
// this is the rule between the two, which only a deployable has.
func checkAcrossSections(cluster, configuration []string) error {
	conf := map[string]bool{}
	for _, p := range configuration {
		conf[p] = true
	}
	clus := map[string]bool{}
	for _, p := range cluster {
		clus[p] = true
	}
	for _, p := range cluster {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if conf[d] {
				return fmt.Errorf("cluster section: file %s lies below configuration file %s, which would have to be a directory", p, d)
			}
		}
	}
	for _, p := range configuration {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if clus[d] {
				return fmt.Errorf("cluster section: file %s must be a directory: configuration file %s lies below it", d, p)
			}
		}
	}
	return nil
}

// sectionFiles lists the files of a small section in the store, as absolute paths. The tar
// is read no further than the size the config records for it.
func sectionFiles(ctx context.Context, store repository.Store, desc ocispec.Descriptor, tarSize int64) ([]string, error) {
	rc, err := store.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	dec, err := zstd.NewReader(rc, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", desc.Digest, err)
	}
	defer dec.Close()
	tr := tar.NewReader(io.LimitReader(dec, tarSize))
	var files []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", desc.Digest, err)
		}
		if h.Typeflag != tar.TypeDir {
			files = append(files, path.Clean("/"+h.Name))
		}
	}
}
