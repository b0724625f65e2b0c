package tarball

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"slices"
)

// Entry is one small in-memory file, directory or symlink for WriteEntries.
type Entry struct {
	// Path inside the archive, relative ("etc/hosts"); a leading "/" or "./" is dropped.
	Path string
	// Mode holds the permission bits, fs.ModeSetuid/ModeSetgid/ModeSticky, and the type:
	// fs.ModeDir, fs.ModeSymlink, or none for a regular file.
	Mode     fs.FileMode
	Uid, Gid int
	// Content of a regular file.
	Content []byte
	// Target of a symlink.
	Target string
	// Xattrs to record (only those KeepXattr accepts are kept).
	Xattrs map[string]string
}

// header builds the raw header of e.
func (e Entry) header() (*tar.Header, error) {
	hdr := &tar.Header{
		Name: e.Path,
		Mode: int64(e.Mode.Perm()),
		Uid:  e.Uid,
		Gid:  e.Gid,
	}
	if e.Mode&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if e.Mode&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if e.Mode&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch e.Mode.Type() {
	case 0:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(e.Content))
	case fs.ModeDir:
		hdr.Typeflag = tar.TypeDir
	case fs.ModeSymlink:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = e.Target
	default:
		return nil, fmt.Errorf("entry %q: unsupported type %v", e.Path, e.Mode.Type())
	}
	if hdr.Typeflag != tar.TypeReg && len(e.Content) > 0 {
		return nil, fmt.Errorf("entry %q: only regular files have content", e.Path)
	}
	for k, v := range e.Xattrs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = make(map[string]string)
		}
		hdr.PAXRecords[xattrPrefix+k] = v
	}
	return hdr, nil
}

// WriteEntries writes entries as a deterministic tar (compressed as opts say) to w, with the
// same normalization and order as Pack: the order of the slice does not matter, and two entries
// with the same path are an error. Parent directories are not invented: list them to control
// their mode. It does not close w.
func WriteEntries(w io.Writer, entries []Entry, opts PackOptions) (Stats, error) {
	var st Stats
	type pending struct {
		hdr     *tar.Header
		content []byte
	}
	list := make([]pending, 0, len(entries))
	for _, e := range entries {
		hdr, err := e.header()
		if err != nil {
			return st, err
		}
		if err := Normalize(hdr, opts.SourceDateEpoch, opts.PreserveTimes); err != nil {
			return st, fmt.Errorf("entry %q: %w", e.Path, err)
		}
		list = append(list, pending{hdr, e.Content})
	}
	slices.SortFunc(list, func(a, b pending) int { return ComparePaths(a.hdr.Name, b.hdr.Name) })
	for i := 1; i < len(list); i++ {
		if ComparePaths(list[i-1].hdr.Name, list[i].hdr.Name) == 0 {
			return st, fmt.Errorf("entry %q: listed twice", list[i].hdr.Name)
		}
	}

	out, err := newSink(w, opts.Compression, opts.Level)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(out)
	for _, p := range list {
		hdr := p.hdr
		if err = tw.WriteHeader(hdr); err != nil {
			err = fmt.Errorf("entry %q: %w", hdr.Name, err)
			break
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err = tw.Write(p.content); err != nil {
				err = fmt.Errorf("entry %q: %w", hdr.Name, err)
				break
			}
		}
		st.count(hdr.Typeflag, hdr.Size)
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, fmt.Errorf("write entries: %w", err)
	}
	st.DiffID, st.TarBytes, st.OutputBytes = out.sums()
	return st, nil
}
