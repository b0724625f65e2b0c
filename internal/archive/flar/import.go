package flar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/repository"
)

// maxSmallSection bounds a manifest or config held in memory while importing.
const maxSmallSection = 4 << 20

// ImportOptions tunes Import.
type ImportOptions struct {
	// Progress, when set, is called as the file is read, with the bytes read so far and the
	// size the header announces.
	Progress func(done, total int64)
}

// ImportResult says what an import brought in.
type ImportResult struct {
	Header *Header
	// Stored counts the blobs that were new to the store; Present those it already had (their
	// bytes in the file were verified all the same).
	Stored, Present int
	StoredBytes     int64
}

// Import reads an export file from r into store. Every section is checked against the digest
// the header gives while it streams, layers also against the diffID their config records; the
// manifests are checked to reach only blobs that the file or the store holds (a layer taken
// from the store is read and checked against its diffID as well). Blobs go into
// the store uncommitted and are committed, and the archives named, only once the whole file
// has been read and verified: a damaged or truncated file leaves the store as it was.
func Import(ctx context.Context, store repository.Store, r io.Reader, opts ImportOptions) (*ImportResult, error) {
	cr := &countingReader{r: r}
	h, br, err := ReadHeader(cr)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	im := &importer{store: store, header: h, br: br, manifests: map[digest.Digest]*ocispec.Manifest{}, smalls: map[digest.Digest][]byte{},
		configs: map[digest.Digest]*archive.Config{}, expectDiffID: map[digest.Digest]digest.Digest{}, expectTarSize: map[digest.Digest]int64{}, expectDesc: map[digest.Digest]ocispec.Descriptor{}}
	defer im.abort()
	if opts.Progress != nil {
		total := h.TotalSize()
		cr.progress = func(n int64) { opts.Progress(n, total) }
	}
	for i, s := range h.Sections {
		if err := im.section(ctx, i+1, s); err != nil {
			return nil, fmt.Errorf("import: section.%d %s: %w", i+1, s, err)
		}
	}
	if _, err := br.Peek(1); err != io.EOF {
		return nil, fmt.Errorf("import: data after the last section (section.%d): not a file Export wrote", len(h.Sections))
	}
	if err := im.checkReachable(ctx); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	res, err := im.commit(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

type importer struct {
	store     repository.Store
	header    *Header
	br        *bufio.Reader
	manifests map[digest.Digest]*ocispec.Manifest
	// smalls holds verified manifests and configs until commit.
	smalls  map[digest.Digest][]byte
	configs map[digest.Digest]*archive.Config
	// expectDiffID maps a layer digest to the diffID its configs record; expectDesc to the
	// descriptor its manifests give it (media type and size must match the section's).
	expectDiffID map[digest.Digest]digest.Digest
	// expectTarSize maps a layer digest to the size of the tar inside its configs record: the
	// decoder stops there, so a section that inflates without end is refused, not read.
	expectTarSize map[digest.Digest]int64
	expectDesc    map[digest.Digest]ocispec.Descriptor
	pending       []pendingLayer
	present       int
}

type pendingLayer struct {
	entry SectionEntry
	ing   repository.Ingester
}

func (im *importer) abort() {
	for _, p := range im.pending {
		p.ing.Abort()
	}
	im.pending = nil
}

func (im *importer) section(ctx context.Context, n int, s SectionEntry) error {
	if err := im.expectLine(fmt.Sprintf("section_begin=section.%d", n)); err != nil {
		return err
	}
	var err error
	switch s.Kind {
	case KindManifest, KindConfig:
		err = im.small(s)
	default:
		err = im.layer(ctx, s)
	}
	if err != nil {
		return err
	}
	if b, err := im.br.ReadByte(); err != nil || b != '\n' {
		return fmt.Errorf("no newline after the section's bytes: the file is damaged or its sizes were altered")
	}
	return im.expectLine(fmt.Sprintf("section_end=section.%d", n))
}

func (im *importer) expectLine(want string) error {
	b, err := im.br.ReadSlice('\n')
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the file ends before %q: truncated", want)
	}
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return fmt.Errorf("read: %w", err)
	}
	if got := string(bytes.TrimSuffix(b, []byte("\n"))); got != want || err != nil {
		return fmt.Errorf("want %q, found %q: the file is damaged", want, clip(got))
	}
	return nil
}

// readExact copies exactly s.Size bytes of the section to w, telling truncation apart.
func (im *importer) readExact(w io.Writer, s SectionEntry) error {
	n, err := io.CopyBuffer(w, io.LimitReader(im.br, s.Size), make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if n != s.Size {
		return fmt.Errorf("truncated: the file ends after %d of its %d bytes", n, s.Size)
	}
	return nil
}

func (im *importer) small(s SectionEntry) error {
	if s.Size > maxSmallSection {
		return fmt.Errorf("a %s of %d bytes is more than the %d allowed", s.Kind, s.Size, maxSmallSection)
	}
	var buf bytes.Buffer
	if err := im.readExact(&buf, s); err != nil {
		return err
	}
	b := buf.Bytes()
	if want := map[string]string{KindManifest: ocispec.MediaTypeImageManifest, KindConfig: archive.MediaTypeConfig}[s.Kind]; s.MediaType != want {
		return fmt.Errorf("a %s must have media type %s", s.Kind, want)
	}
	if got := digest.FromBytes(b); got != s.Digest {
		return fmt.Errorf("content has digest %s, the header says %s: the file is damaged or was altered", got, s.Digest)
	}
	switch s.Kind {
	case KindManifest:
		m, err := archive.DecodeManifest(b)
		if err != nil {
			return err
		}
		im.manifests[s.Digest] = m
	case KindConfig:
		if err := im.config(s, b); err != nil {
			return err
		}
	}
	im.smalls[s.Digest] = b
	return nil
}

// config decodes a config and records the diffIDs the manifests that use it expect.
func (im *importer) config(s SectionEntry, b []byte) error {
	cfg, err := archive.DecodeConfig(b)
	if err != nil {
		return err
	}
	used := false
	for md, m := range im.manifests {
		if m.Config.Digest != s.Digest {
			continue
		}
		used = true
		// A descriptor with another size than the blob names an archive no store can serve.
		if m.Config.Size != s.Size {
			return fmt.Errorf("manifest %s gives this config size %d, the file holds %d bytes", md, m.Config.Size, s.Size)
		}
		if err := archive.CheckConsistent(m, cfg); err != nil {
			return fmt.Errorf("manifest %s: %w", md, err)
		}
		for _, sec := range archive.Sections(m) {
			want := cfg.DiffIDs[sec.Name]
			if prev, ok := im.expectDiffID[sec.Descriptor.Digest]; ok && prev != want {
				return fmt.Errorf("layer %s has diffID %s in one config and %s in another", sec.Descriptor.Digest, prev, want)
			}
			im.expectDiffID[sec.Descriptor.Digest] = want
			size := cfg.TarSizes[sec.Name]
			if prev, ok := im.expectTarSize[sec.Descriptor.Digest]; ok && prev != size {
				return fmt.Errorf("layer %s has a tar of %d bytes in one config and %d in another", sec.Descriptor.Digest, prev, size)
			}
			im.expectTarSize[sec.Descriptor.Digest] = size
			d := sec.Descriptor
			if prev, ok := im.expectDesc[d.Digest]; ok && (prev.MediaType != d.MediaType || prev.Size != d.Size) {
				return fmt.Errorf("layer %s is %s of %d bytes in one manifest and %s of %d in another", d.Digest, prev.MediaType, prev.Size, d.MediaType, d.Size)
			}
			im.expectDesc[d.Digest] = d
		}
	}
	if !used {
		return fmt.Errorf("no archive of the file uses this config")
	}
	im.configs[s.Digest] = cfg
	return nil
}

// layer streams a section into an uncommitted ingest (or, when the store already has it,
// nowhere), hashing the bytes and the tar inside.
func (im *importer) layer(ctx context.Context, s SectionEntry) error {
	want, ok := im.expectDiffID[s.Digest]
	if !ok {
		return fmt.Errorf("no archive of the file references this section")
	}
	if d := im.expectDesc[s.Digest]; d.MediaType != s.MediaType || d.Size != s.Size {
		return fmt.Errorf("media type %s and size %d, but the manifests give it %s and size %d", s.MediaType, s.Size, d.MediaType, d.Size)
	}
	exists, err := im.store.Exists(ctx, ocispec.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size})
	if err != nil {
		return fmt.Errorf("look it up in the store: %w", err)
	}
	var sink io.Writer = io.Discard
	var ing repository.Ingester
	if !exists {
		if ing, err = im.store.Ingest(ctx); err != nil {
			return fmt.Errorf("start ingest: %w", err)
		}
		sink = ing
	}
	h := sha256.New()
	pr, pw := io.Pipe()
	type result struct {
		d   digest.Digest
		n   int64
		err error
	}
	size := im.expectTarSize[s.Digest]
	done := make(chan result, 1)
	go func() {
		d, n, err := archive.DiffID(pr, size)
		pr.CloseWithError(err) // unblock the writer if decoding stopped early
		done <- result{d, n, err}
	}()
	// The decoder may give up on a damaged stream; the bytes still go to the digest so the
	// verdict names the real fault.
	err = im.readExact(io.MultiWriter(sink, h, &stickyWriter{w: pw}), s)
	pw.CloseWithError(err)
	diff := <-done
	// A damaged byte usually breaks the zstd stream too; the digest is the clearer verdict.
	if err == nil {
		if got := digest.NewDigest(digest.SHA256, h); got != s.Digest {
			err = fmt.Errorf("content has digest %s, the header says %s: the file is damaged or was altered", got, s.Digest)
		} else if diff.err != nil {
			err = fmt.Errorf("the digest matches but the tar inside cannot be decompressed: %w", diff.err)
		} else if diff.d != want {
			err = fmt.Errorf("the tar inside has diffID %s, its config says %s: the archive is inconsistent", diff.d, want)
		} else if diff.n != size {
			err = fmt.Errorf("the tar inside is %d bytes, its config says %d: the archive is inconsistent", diff.n, size)
		}
	}
	if err != nil {
		if ing != nil {
			ing.Abort()
		}
		return err
	}
	if ing != nil {
		im.pending = append(im.pending, pendingLayer{entry: s, ing: ing})
	} else {
		im.present++
	}
	return nil
}

// checkReachable makes sure that every blob a manifest names is in the file or in the store,
// so the import never names an archive it cannot install.
func (im *importer) checkReachable(ctx context.Context) error {
	inFile, checked := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, s := range im.header.Sections {
		inFile[s.Digest] = true
	}
	if err := im.checkNames(); err != nil {
		return err
	}
	for md, m := range im.manifests {
		if _, ok := im.smalls[m.Config.Digest]; !ok {
			return fmt.Errorf("manifest %s: its config %s is not in the file", md, m.Config.Digest)
		}
		for _, l := range m.Layers {
			if inFile[l.Digest] || checked[l.Digest] {
				continue
			}
			if err := im.checkStored(ctx, l); err != nil {
				return fmt.Errorf("manifest %s: %w", md, err)
			}
			checked[l.Digest] = true
		}
	}
	return nil
}

// checkNames holds the header's names and types to the verified configs: the header is plain
// text that no digest covers, so an edited name could otherwise move an existing tag to other
// content. The tag an archive gets is its config's name, never the header's word alone.
func (im *importer) checkNames() error {
	for _, a := range im.header.Archives {
		cfg := im.configOf(a)
		switch {
		case cfg == nil:
			return fmt.Errorf("archive %s: its manifest %s or its config is not in the file", a.Tag, a.Digest)
		case cfg.Name != a.Tag:
			return fmt.Errorf("archive %s: the header names it %s, its verified config %s: the header was edited or the file was not written by export; nothing imported", a.Digest, a.Tag, cfg.Name)
		case cfg.Type != a.Type:
			return fmt.Errorf("archive %s: the header says %s, its verified config says %s: the header was edited or the file was not written by export; nothing imported", a.Tag, a.Type, cfg.Type)
		}
	}
	return nil
}

// configOf is the verified config of a header's archive, nil when the file lacks it.
func (im *importer) configOf(a ArchiveEntry) *archive.Config {
	m := im.manifests[a.Digest]
	if m == nil {
		return nil
	}
	return im.configs[m.Config.Digest]
}

// checkStored reads a section the file leaves out from the store and checks it as the file's
// own sections are: the store's Fetch checks size and digest, and the tar inside must have the
// diffID the file's config gives it.
func (im *importer) checkStored(ctx context.Context, l ocispec.Descriptor) error {
	rc, err := im.store.Fetch(ctx, l)
	if errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("section %s is neither in the file nor in the store", l.Digest)
	}
	if err != nil {
		return fmt.Errorf("section %s, from the store: %w", l.Digest, err)
	}
	defer rc.Close()
	size := im.expectTarSize[l.Digest]
	diff, n, derr := archive.DiffID(rc, size)
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("section %s, from the store: %w", l.Digest, err)
	}
	if derr != nil {
		return fmt.Errorf("section %s, from the store: %w", l.Digest, derr)
	}
	if want := im.expectDiffID[l.Digest]; diff != want {
		return fmt.Errorf("section %s, from the store: the tar inside has diffID %s, the file's config says %s", l.Digest, diff, want)
	}
	if n != size {
		return fmt.Errorf("section %s, from the store: the tar inside is %d bytes, the file's config says %d", l.Digest, n, size)
	}
	return nil
}

// commit makes the verified blobs visible, configs and layers before the manifests that name
// them, and the manifests before their tags.
func (im *importer) commit(ctx context.Context) (*ImportResult, error) {
	res := &ImportResult{Header: im.header, Present: im.present}
	for len(im.pending) > 0 {
		p := im.pending[0]
		desc, err := p.ing.Commit(ctx, p.entry.MediaType)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", p.entry, err)
		}
		im.pending = im.pending[1:]
		if desc.Digest != p.entry.Digest || desc.Size != p.entry.Size {
			return nil, fmt.Errorf("commit %s: the store computed %s (%d bytes)", p.entry, desc.Digest, desc.Size)
		}
		res.Stored++
		res.StoredBytes += desc.Size
	}
	for _, kind := range []string{KindConfig, KindManifest} {
		for _, s := range im.header.Sections {
			if s.Kind != kind {
				continue
			}
			// The bytes were checked against s.Digest when they were read.
			_, stored, err := archive.PushBlob(ctx, im.store, s.MediaType, im.smalls[s.Digest])
			if err != nil {
				return nil, fmt.Errorf("store %s: %w", s, err)
			}
			if stored {
				res.Stored++
				res.StoredBytes += s.Size
			} else {
				res.Present++
			}
		}
	}
	for _, a := range im.header.Archives {
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: archive.ArtifactType, Digest: a.Digest, Size: a.Size}
		name := im.configOf(a).Name // checkNames made sure it is there and agrees with a.Tag
		if err := im.store.Tag(ctx, desc, name); err != nil {
			return nil, fmt.Errorf("name %s as %s: %w", a.Digest, name, err)
		}
	}
	return res, nil
}

type countingReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.n)
	}
	return n, err
}

// stickyWriter passes bytes on until the first error, then drops them without failing.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
	return len(p), nil
}
