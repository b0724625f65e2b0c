package flar

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/version"
)

// ExportOptions tunes Export.
type ExportOptions struct {
	// SoftwareLoad requires the archives to be the deployable archives of one software load
	// (same descriptor) and records the load in the header.
	SoftwareLoad bool
	// Progress, when set, is called as section bytes are written, with the running total and
	// the total to write.
	Progress func(done, total int64)
}

// Export writes the archives that refs name (names or manifest digests) to w as one export
// file, each under the name its config records (what Import will name it). A blob that several archives share is written once. Each blob is checked against its
// digest as it is copied, so a damaged store cannot produce a file that looks sound.
func Export(ctx context.Context, store repository.Store, w io.Writer, refs []string, opts ExportOptions) (*Header, error) {
	if len(refs) == 0 {
		return nil, fmt.Errorf("export: no archive named")
	}
	h := &Header{ExportedBy: version.String()}
	var archives []*archive.Archive
	for _, ref := range refs {
		a, err := archive.Load(ctx, store, ref)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		// Import names an archive after its config, which the digests cover; an archive known
		// here under another name (pull --as) travels under the name it was made with.
		h.Archives = append(h.Archives, ArchiveEntry{Tag: a.Config.Name, Type: a.Config.Type, Digest: a.Descriptor.Digest, Size: a.Descriptor.Size})
		archives = append(archives, a)
	}
	if opts.SoftwareLoad {
		sl, err := softwareLoadOf(archives)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		h.SoftwareLoad = sl
	}
	h.Sections = sectionsOf(archives)
	if err := h.Write(w); err != nil {
		return nil, fmt.Errorf("export: header: %w", err)
	}
	total, done := h.TotalSize(), int64(0)
	for i, s := range h.Sections {
		if err := writeSection(ctx, store, w, i+1, s, func(n int64) {
			done += n
			if opts.Progress != nil {
				opts.Progress(done, total)
			}
		}); err != nil {
			return nil, fmt.Errorf("export: section.%d %s: %w", i+1, s, err)
		}
	}
	return h, nil
}

// sectionsOf lists the blobs of the archives once each, manifests first, then configs, then
// the small sections, then the binary sections (the order Import relies on to check diffIDs
// while it streams).
func sectionsOf(archives []*archive.Archive) []SectionEntry {
	seen := map[digest.Digest]bool{}
	var out []SectionEntry
	add := func(kind string, d ocispec.Descriptor) {
		if seen[d.Digest] {
			return
		}
		seen[d.Digest] = true
		out = append(out, SectionEntry{Kind: kind, MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	}
	for _, a := range archives {
		add(KindManifest, a.Descriptor)
	}
	for _, a := range archives {
		add(KindConfig, a.Manifest.Config)
	}
	for _, small := range []bool{true, false} {
		for _, a := range archives {
			for _, s := range archive.Sections(a.Manifest) {
				if (s.Name != archive.SectionArchive) == small {
					add(s.Name, s.Descriptor)
				}
			}
		}
	}
	return out
}

// softwareLoadOf checks that the archives are the deployables of one software load.
func softwareLoadOf(archives []*archive.Archive) (*SoftwareLoadEntry, error) {
	var sl *SoftwareLoadEntry
	for _, a := range archives {
		if a.Config.Type != archive.Deployable {
			return nil, fmt.Errorf("%s is a %s archive: a software load holds deployable archives only (generic and configured archives are never deployable)", a.Config.Name, a.Config.Type)
		}
		e := &SoftwareLoadEntry{Cluster: a.Config.SoftwareLoad.Cluster, Digest: a.Config.SoftwareLoad.Digest()}
		if sl != nil && *sl != *e {
			return nil, fmt.Errorf("%s belongs to software load %s of cluster %s, the others to %s of cluster %s", a.Config.Name, e.Digest, e.Cluster, sl.Digest, sl.Cluster)
		}
		sl = e
	}
	return sl, nil
}

// writeSection copies one blob into the file. It leans on the Store contract's Fetch, which
// fails at the end of a blob whose bytes do not match its descriptor (both stores check size
// and digest as the bytes go by), so the copy is read to its end and never hashed twice.
func writeSection(ctx context.Context, store repository.Store, w io.Writer, n int, s SectionEntry, progress func(int64)) error {
	rc, err := store.Fetch(ctx, ocispec.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size})
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	if _, err := fmt.Fprintf(w, "section_begin=section.%d\n", n); err != nil {
		return err
	}
	copied, err := io.CopyBuffer(io.MultiWriter(w, progressWriter(progress)), rc, make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("copy from the repository (run `flarecast archive verify`): %w", err)
	}
	if copied != s.Size {
		return fmt.Errorf("the repository holds %d bytes of it; run `flarecast archive verify`", copied)
	}
	_, err = fmt.Fprintf(w, "\nsection_end=section.%d\n", n)
	return err
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
