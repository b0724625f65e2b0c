package tarball

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ErrNotCanonical is the error of a Pack with PackOptions.Stream whose tar source is not in an
// order the stream can follow: an entry came after one that sorts behind it (beyond the hold
// window), a name came twice, or a hard link named a file already out of reach. The output
// written so far is not an archive; packing the same source without Stream (spooled) gives
// the archive. archive.Create does that for a source it can rewind.
var ErrNotCanonical = errors.New("the tar stream is not in canonical order")

// Bounds of the hold window of a streamed pack: entries read but not yet written, because an
// entry that sorts before them may still come (mmdebstrap writes ./dev and its nodes before
// ./). A stream that needs more than this to be put in order is packed spooled instead.
const (
	holdEntries = 4096
	holdBytes   = 32 << 20
)

// held is an entry read but not written yet, with its content.
type held struct {
	hdr  *tar.Header
	data []byte
}

// streamer writes a tar stream's entries normalized and in canonical order as it reads them,
// holding back a bounded window of entries so that a stream which is nearly in order (a few
// entries early) needs no spool: the same bytes as packTar, with reading and compressing
// overlapped and the contents never written to disk.
type streamer struct {
	tw  *tar.Writer
	buf []byte // copies entry contents
	// bufs recycles the buffers of held contents once written: one allocation per held file
	// was 635 MB of garbage for the 726 MB Debian base.
	bufs bufPool
	opts PackOptions
	st   *Stats
	// hold is sorted by name; holdSize counts the content it keeps.
	hold     []held
	holdSize int64
	// last is the key of the last entry written: every later one must sort after it.
	last    string
	started bool
	// files are the headers written for regular files (by key): a later hard link to one
	// links to it as written.
	files map[string]*tar.Header
	// links maps a hard link's key to the key of the file it names, for links to links.
	links map[string]string
}

func packTarStream(ctx context.Context, r io.Reader, tw *tar.Writer, opts PackOptions, st *Stats) error {
	src, release, err := openTarSource(r, opts)
	if err != nil {
		return err
	}
	defer release()
	s := &streamer{tw: tw, opts: opts, st: st, files: map[string]*tar.Header{}, links: map[string]string{}}
	var content int64
	for {
		hdr, err := src.next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && opts.MaxBytes > 0 && content+hdr.Size > opts.MaxBytes {
			return fmt.Errorf("%s: %d bytes, after %d read: %w", hdr.Name, hdr.Size, content, errTooLarge)
		}
		if hdr.Typeflag == tar.TypeReg {
			content += hdr.Size
		}
		if err := s.add(hdr, src.tr); err != nil {
			return err
		}
	}
	for len(s.hold) > 0 {
		if err := s.writeFirst(); err != nil {
			return err
		}
	}
	return nil
}

// add takes the next entry of the stream: held in order, or, for content too large to hold,
// written at once after every held entry before it.
func (s *streamer) add(hdr *tar.Header, r io.Reader) error {
	key := entryKey(hdr.Name)
	if s.started && ComparePaths(key, s.last) <= 0 {
		return fmt.Errorf("%s after %s: %w", hdr.Name, s.last, ErrNotCanonical)
	}
	i, found := slices.BinarySearchFunc(s.hold, key, func(h held, k string) int { return ComparePaths(entryKey(h.hdr.Name), k) })
	if found {
		// A later entry of a name replaces the earlier one, as extraction would; a link to the
		// replaced one would have to follow: leave that to the spooled pack.
		if _, linked := s.links[key]; linked || s.linkedTo(key) {
			return fmt.Errorf("%s: replaced while a hard link names it: %w", hdr.Name, ErrNotCanonical)
		}
		s.holdSize -= int64(len(s.hold[i].data))
		s.hold = slices.Delete(s.hold, i, i+1)
	}
	if hdr.Typeflag == tar.TypeLink {
		s.links[key] = entryKey(hdr.Linkname)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > holdBytes/4 {
		// Too large to hold: everything before it goes first, then it streams through.
		for len(s.hold) > 0 && ComparePaths(entryKey(s.hold[0].hdr.Name), key) < 0 {
			if err := s.writeFirst(); err != nil {
				return err
			}
		}
		return s.write(hdr, r, nil)
	}
	var data []byte
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		data = s.bufs.get(int(hdr.Size))
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
		if s.opts.Progress != nil {
			s.opts.Progress(hdr.Size)
		}
	}
	s.hold = slices.Insert(s.hold, i, held{hdr: hdr, data: data})
	s.holdSize += int64(len(data))
	for len(s.hold) > holdEntries || s.holdSize > holdBytes {
		if err := s.writeFirst(); err != nil {
			return err
		}
	}
	return nil
}

// linkedTo reports whether a held or written hard link names key.
func (s *streamer) linkedTo(key string) bool {
	for _, target := range s.links {
		if target == key {
			return true
		}
	}
	return false
}

func (s *streamer) writeFirst() error {
	h := s.hold[0]
	s.hold = s.hold[1:]
	s.holdSize -= int64(len(h.data))
	return s.write(h.hdr, nil, h.data)
}

// write writes one entry, its content from r (streamed) or data (held). A hard link is
// written as a link to the file as written; a link written before its file (it sorts first)
// takes the file's content, and the file becomes the link, as the spooled pack orders them.
func (s *streamer) write(hdr *tar.Header, r io.Reader, data []byte) error {
	key := entryKey(hdr.Name)
	if hdr.Typeflag == tar.TypeLink {
		target, err := s.resolve(key)
		if err != nil {
			return err
		}
		if f, ok := s.files[target]; ok {
			hdr = linkHeader(hdr.Name, f)
		} else {
			// The file is held: this name sorts first, so it carries the content.
			j := slices.IndexFunc(s.hold, func(h held) bool { return entryKey(h.hdr.Name) == target })
			if j < 0 || s.hold[j].hdr.Typeflag != tar.TypeReg {
				return fmt.Errorf("%s: hard link to %q, which is not a file the stream holds: %w", hdr.Name, target, ErrNotCanonical)
			}
			file := s.hold[j]
			moved := *file.hdr
			moved.Name = hdr.Name
			s.hold[j] = held{hdr: linkHeader(file.hdr.Name, &moved)}
			s.holdSize -= int64(len(file.data))
			s.links[target] = key
			delete(s.links, key)
			hdr, data, r = &moved, file.data, nil
		}
	}
	if hdr.Typeflag == tar.TypeReg {
		s.files[key] = hdr
	}
	s.st.count(hdr.Typeflag, hdr.Size)
	if err := s.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", hdr.Name, err)
	}
	if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
		if err := s.writeContent(hdr, r, data); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	s.last, s.started = key, true
	return nil
}

// writeContent writes a regular file's content: held data in one write (copying it through a
// read buffer first was another pass over every held byte), or streamed from r.
func (s *streamer) writeContent(hdr *tar.Header, r io.Reader, data []byte) error {
	if r == nil {
		if _, err := s.tw.Write(data); err != nil {
			return err
		}
		s.bufs.put(data) // written: nothing holds it any more
		return nil
	}
	if s.opts.Progress != nil {
		r = &progressReader{r: r, report: s.opts.Progress}
	}
	// One buffer for every entry: io.CopyN would allocate 32 KiB for each (the tar writer and
	// reader are neither a ReaderFrom nor a WriterTo).
	if s.buf == nil {
		s.buf = make([]byte, 256<<10)
	}
	n, err := io.CopyBuffer(s.tw, io.LimitReader(r, hdr.Size), s.buf)
	if err == nil && n < hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// resolve follows hard links from key to the name of the file they reach.
func (s *streamer) resolve(key string) (string, error) {
	seen := 0
	for {
		target, ok := s.links[key]
		if !ok {
			return key, nil
		}
		if seen++; seen > len(s.links) {
			return "", fmt.Errorf("%s: a loop of hard links: %w", key, ErrNotCanonical)
		}
		key = target
	}
}

type progressReader struct {
	r      io.Reader
	report func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.report(int64(n))
	}
	return n, err
}
