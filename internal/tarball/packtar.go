package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// spooled is one entry of a tar source, its content parked in the spool file at off.
type spooled struct {
	hdr *tar.Header
	off int64
}

// packTar reads a whole tar stream, spooling file contents to a temporary file, then writes its
// entries normalized and in entry order. Memory grows with the number of entries, not with
// their sizes.
func packTar(ctx context.Context, r io.Reader, tw *tar.Writer, opts PackOptions, st *Stats) error {
	spool, err := os.CreateTemp(opts.TempDir, "flarecast-pack-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	src, release, err := openTarSource(r, opts)
	if err != nil {
		return err
	}
	defer release()
	entries, err := readSpooled(ctx, src, spool)
	if err != nil {
		return err
	}
	if err := relinkInOrder(entries); err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		st.count(e.hdr.Typeflag, e.hdr.Size)
		if err := tw.WriteHeader(e.hdr); err != nil {
			return fmt.Errorf("%s: %w", e.hdr.Name, err)
		}
		if e.hdr.Typeflag == tar.TypeReg && e.hdr.Size > 0 {
			if _, err := io.Copy(tw, io.NewSectionReader(spool, e.off, e.hdr.Size)); err != nil {
				return fmt.Errorf("%s: %w", e.hdr.Name, err)
			}
		}
	}
	return nil
}

func entryKey(name string) string { return strings.TrimSuffix(name, "/") }

// readSpooled reads every entry of r, normalized, sorted, and with later duplicates replacing
// earlier ones (as extraction would).
func readSpooled(ctx context.Context, src *tarSource, spool *os.File) ([]spooled, error) {
	opts := src.opts
	byName := make(map[string]int)
	var entries []spooled
	var off int64
	for {
		hdr, err := src.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		e := spooled{hdr: hdr, off: off}
		if opts.MaxBytes > 0 && hdr.Typeflag == tar.TypeReg && off+hdr.Size > opts.MaxBytes {
			return nil, fmt.Errorf("%s: %d bytes, after %d spooled: %w", hdr.Name, hdr.Size, off, errTooLarge)
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			n, err := io.Copy(spool, src.tr)
			if err != nil {
				return nil, fmt.Errorf("%s: spool: %w", hdr.Name, err)
			}
			off += n
			if opts.Progress != nil {
				opts.Progress(n)
			}
		}
		key := entryKey(hdr.Name)
		if i, ok := byName[key]; ok {
			entries[i] = e
			continue
		}
		byName[key] = len(entries)
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b spooled) int { return ComparePaths(a.hdr.Name, b.hdr.Name) })
	return entries, nil
}

// relinkInOrder makes the first name of each multiply-linked file (in entry order) the one that
// carries its content, and every other name a hard link to it, whatever order the source had.
func relinkInOrder(entries []spooled) error {
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		index[entryKey(e.hdr.Name)] = i
	}
	// resolve follows a chain of hard links to the entry that holds the file.
	resolve := func(i int) (int, error) {
		for hops := 0; entries[i].hdr.Typeflag == tar.TypeLink; hops++ {
			j, ok := index[entries[i].hdr.Linkname]
			if !ok || hops > len(entries) {
				return 0, fmt.Errorf("%s: hard link to missing %q", entries[i].hdr.Name, entries[i].hdr.Linkname)
			}
			i = j
		}
		if entries[i].hdr.Typeflag == tar.TypeDir {
			return 0, fmt.Errorf("%s: hard link to a directory", entries[i].hdr.Name)
		}
		return i, nil
	}
	first := make(map[int]int) // holder index -> first name in order
	for i, e := range entries {
		if e.hdr.Typeflag != tar.TypeLink {
			continue
		}
		h, err := resolve(i)
		if err != nil {
			return err
		}
		if f, ok := first[h]; !ok || i < f {
			first[h] = min(i, h)
		}
	}
	for h, f := range first {
		if f != h {
			// Move the file to its first name; the old holder becomes a link to it below.
			moved := *entries[h].hdr
			moved.Name = entries[f].hdr.Name
			entries[f] = spooled{hdr: &moved, off: entries[h].off}
			entries[h].hdr = linkHeader(entries[h].hdr.Name, &moved)
		}
	}
	for i, e := range entries {
		if e.hdr.Typeflag == tar.TypeLink {
			h, err := resolve(i)
			if err != nil {
				return err
			}
			entries[i].hdr = linkHeader(e.hdr.Name, entries[h].hdr)
		}
	}
	return nil
}

// linkHeader is the header of a hard link called name to the file whose header is file. A link
// carries the file's mode, owner and time (as GNU tar writes them) but not its xattrs, which
// belong to the file's entry.
func linkHeader(name string, file *tar.Header) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeLink,
		Name:     name,
		Linkname: entryKey(file.Name),
		Mode:     file.Mode,
		Uid:      file.Uid,
		Gid:      file.Gid,
		ModTime:  file.ModTime,
		Format:   tar.FormatPAX,
	}
}
