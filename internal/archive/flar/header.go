package flar

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
)

// Magic is the first line of an export file; the version moves when the layout does.
const Magic = "flarecast-export-v1"

// Limits that keep a damaged or hostile header from eating memory.
const (
	maxLineLength = 4096
	maxArchives   = 1024
	maxSections   = 16384
)

// Section kinds, in the order they appear in a file: manifests first, then configs (both small,
// JSON), then the layers, the binary sections last.
const (
	KindManifest = "manifest"
	KindConfig   = "config"
)

// Header is the text part of an export file.
type Header struct {
	ExportedBy string
	Archives   []ArchiveEntry
	// SoftwareLoad is set when the file holds the deployable archives of one software load.
	SoftwareLoad *SoftwareLoadEntry
	Sections     []SectionEntry
}

// ArchiveEntry names one archive of the file: its name (the one its config records, which
// import gives it as its tag), its type and its manifest.
type ArchiveEntry struct {
	Tag    string
	Type   archive.Type
	Digest digest.Digest
	Size   int64
}

// SoftwareLoadEntry identifies the software load a file carries.
type SoftwareLoadEntry struct {
	Cluster string
	Digest  digest.Digest
}

// SectionEntry is one blob of the file.
type SectionEntry struct {
	// Kind is manifest, config, or the section name (archive, configuration, cluster).
	Kind      string
	MediaType string
	Digest    digest.Digest
	Size      int64
}

func (s SectionEntry) String() string {
	return fmt.Sprintf("%s %s (%d bytes)", s.Kind, s.Digest, s.Size)
}

// TotalSize is the sum of the section sizes: what the file carries beyond its text.
func (h *Header) TotalSize() int64 {
	var n int64
	for _, s := range h.Sections {
		n += s.Size
	}
	return n
}

var (
	tagPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	wordPattern = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// kindRank is the order sections must follow in a file.
func kindRank(kind string) int {
	switch kind {
	case KindManifest:
		return 0
	case KindConfig:
		return 1
	case archive.SectionConfiguration, archive.SectionCluster:
		return 2
	case archive.SectionArchive:
		return 3
	}
	return -1
}

// Write writes the header as text.
func (h *Header) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", Magic)
	b.WriteString("section_begin=identification\n")
	fmt.Fprintf(&b, "exported_by=%s\n", strings.ReplaceAll(h.ExportedBy, "\n", " "))
	fmt.Fprintf(&b, "archives=%d\n", len(h.Archives))
	for i, a := range h.Archives {
		fmt.Fprintf(&b, "archive.%d=%s %s %s %d\n", i+1, a.Tag, a.Type, a.Digest, a.Size)
	}
	if h.SoftwareLoad != nil {
		fmt.Fprintf(&b, "software_load=%s %s\n", h.SoftwareLoad.Cluster, h.SoftwareLoad.Digest)
	}
	fmt.Fprintf(&b, "sections=%d\n", len(h.Sections))
	fmt.Fprintf(&b, "total_size=%d\n", h.TotalSize())
	b.WriteString("section_end=identification\n")
	b.WriteString("section_begin=contents\n")
	for i, s := range h.Sections {
		fmt.Fprintf(&b, "section.%d=%s %s %s %d\n", i+1, s.Kind, s.MediaType, s.Digest, s.Size)
	}
	b.WriteString("section_end=contents\n")
	if err := h.validate(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// lineReader reads the text lines of a file with a bound on their length.
type lineReader struct {
	r    *bufio.Reader
	line int
}

func (lr *lineReader) next() (string, error) {
	lr.line++
	b, err := lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(b) > maxLineLength {
		return "", fmt.Errorf("line %d: longer than %d bytes: not a flarecast export header", lr.line, maxLineLength)
	}
	if err == io.EOF {
		return "", fmt.Errorf("line %d: file ends inside the header: truncated", lr.line)
	}
	if err != nil {
		return "", fmt.Errorf("line %d: %w", lr.line, err)
	}
	return string(b[:len(b)-1]), nil
}

func (lr *lineReader) expect(want string) error {
	got, err := lr.next()
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("line %d: want %q, found %q", lr.line, want, clip(got))
	}
	return nil
}

// keyValue reads a line "key=value" with the given key.
func (lr *lineReader) keyValue(key string) (string, error) {
	got, err := lr.next()
	if err != nil {
		return "", err
	}
	k, v, ok := strings.Cut(got, "=")
	if !ok || k != key {
		return "", fmt.Errorf("line %d: want %s=…, found %q", lr.line, key, clip(got))
	}
	return v, nil
}

func (lr *lineReader) count(key string, max int) (int, error) {
	v, err := lr.keyValue(key)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("line %d: %s=%q is not a count between 0 and %d", lr.line, key, clip(v), max)
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ReadHeader parses the header at the start of r. It reads r through a bufio.Reader it
// returns, positioned at the first section.
func ReadHeader(r io.Reader) (*Header, *bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lr := &lineReader{r: br}
	h, err := parseHeader(lr)
	if err != nil {
		return nil, nil, fmt.Errorf("export header: %w", err)
	}
	return h, br, nil
}

func parseHeader(lr *lineReader) (*Header, error) {
	first, err := lr.next()
	if err != nil {
		return nil, err
	}
	if first != Magic {
		if strings.HasPrefix(first, "flarecast-export-") {
			return nil, fmt.Errorf("format %q is not one this flarecast reads (%s)", clip(first), Magic)
		}
		return nil, fmt.Errorf("not a flarecast export file (first line %q, want %q)", clip(first), Magic)
	}
	if err := lr.expect("section_begin=identification"); err != nil {
		return nil, err
	}
	h := &Header{}
	if h.ExportedBy, err = lr.keyValue("exported_by"); err != nil {
		return nil, err
	}
	n, err := lr.count("archives", maxArchives)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= n; i++ {
		v, err := lr.keyValue(fmt.Sprintf("archive.%d", i))
		if err != nil {
			return nil, err
		}
		a, err := parseArchiveEntry(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: archive.%d: %w", lr.line, i, err)
		}
		h.Archives = append(h.Archives, a)
	}
	line, err := lr.next()
	if err != nil {
		return nil, err
	}
	if v, ok := strings.CutPrefix(line, "software_load="); ok {
		f := strings.Split(v, " ")
		if len(f) != 2 || !wordPattern.MatchString(f[0]) || digest.Digest(f[1]).Validate() != nil {
			return nil, fmt.Errorf("line %d: software_load=%q: want a cluster name and a descriptor digest", lr.line, clip(v))
		}
		h.SoftwareLoad = &SoftwareLoadEntry{Cluster: f[0], Digest: digest.Digest(f[1])}
		if line, err = lr.next(); err != nil {
			return nil, err
		}
	}
	k, v, _ := strings.Cut(line, "=")
	ns, err := strconv.Atoi(v)
	if k != "sections" || err != nil || ns < 0 || ns > maxSections || strconv.Itoa(ns) != v {
		return nil, fmt.Errorf("line %d: want sections=<count up to %d>, found %q", lr.line, maxSections, clip(line))
	}
	tv, err := lr.keyValue("total_size")
	if err != nil {
		return nil, err
	}
	total, err := strconv.ParseInt(tv, 10, 64)
	if err != nil || total < 0 {
		return nil, fmt.Errorf("line %d: total_size=%q is not a size", lr.line, clip(tv))
	}
	if err := lr.expect("section_end=identification"); err != nil {
		return nil, err
	}
	if err := lr.expect("section_begin=contents"); err != nil {
		return nil, err
	}
	for i := 1; i <= ns; i++ {
		v, err := lr.keyValue(fmt.Sprintf("section.%d", i))
		if err != nil {
			return nil, err
		}
		s, err := parseSectionEntry(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: section.%d: %w", lr.line, i, err)
		}
		h.Sections = append(h.Sections, s)
	}
	if err := lr.expect("section_end=contents"); err != nil {
		return nil, err
	}
	if h.TotalSize() != total {
		return nil, fmt.Errorf("total_size=%d but the sections add up to %d", total, h.TotalSize())
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	return h, nil
}

func parseArchiveEntry(v string) (ArchiveEntry, error) {
	f := strings.Split(v, " ")
	if len(f) != 4 {
		return ArchiveEntry{}, fmt.Errorf("want <tag> <type> <manifest digest> <manifest size>, found %q", clip(v))
	}
	t, err := archive.ParseType(f[1])
	if err != nil || string(t) != f[1] {
		return ArchiveEntry{}, fmt.Errorf("type %q is not Generic, Configured or Deployable", clip(f[1]))
	}
	size, err := parseSize(f[3])
	if err != nil {
		return ArchiveEntry{}, err
	}
	return ArchiveEntry{Tag: f[0], Type: t, Digest: digest.Digest(f[2]), Size: size}, nil
}

func parseSectionEntry(v string) (SectionEntry, error) {
	f := strings.Split(v, " ")
	if len(f) != 4 {
		return SectionEntry{}, fmt.Errorf("want <kind> <media type> <digest> <size>, found %q", clip(v))
	}
	size, err := parseSize(f[3])
	if err != nil {
		return SectionEntry{}, err
	}
	return SectionEntry{Kind: f[0], MediaType: f[1], Digest: digest.Digest(f[2]), Size: size}, nil
}

func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("size %q is not a non-negative decimal", clip(s))
	}
	return n, nil
}

// validate checks what a header alone can show: well-formed names and digests, sections in
// order and each blob once, every archive's manifest among the sections.
func (h *Header) validate() error {
	if strings.ContainsAny(h.ExportedBy, "\n\x00") {
		return fmt.Errorf("exported_by holds control characters")
	}
	if len(h.Archives) == 0 {
		return fmt.Errorf("the file names no archive")
	}
	seen := map[digest.Digest]SectionEntry{}
	last := 0
	var total int64
	for i, s := range h.Sections {
		// TotalSize adds with wrap-around; sizes past what a file can hold would make any
		// total_size match.
		if s.Size > math.MaxInt64-total {
			return fmt.Errorf("section.%d: the sections add up to more than %d bytes", i+1, int64(math.MaxInt64))
		}
		total += s.Size
		r := kindRank(s.Kind)
		if r < 0 {
			return fmt.Errorf("section.%d: unknown kind %q", i+1, clip(s.Kind))
		}
		if r < last {
			return fmt.Errorf("section.%d: %s after a later kind; sections go manifests, configs, configuration and cluster, archive", i+1, s.Kind)
		}
		last = r
		if !wordPattern.MatchString(s.MediaType) {
			return fmt.Errorf("section.%d: media type %q", i+1, clip(s.MediaType))
		}
		if err := checkDigest(s.Digest); err != nil {
			return fmt.Errorf("section.%d: %w", i+1, err)
		}
		if _, dup := seen[s.Digest]; dup {
			return fmt.Errorf("section.%d: blob %s listed twice", i+1, s.Digest)
		}
		seen[s.Digest] = s
	}
	tags := map[string]bool{}
	for i, a := range h.Archives {
		if !tagPattern.MatchString(a.Tag) {
			return fmt.Errorf("archive.%d: %q is not a valid name (letters, digits, '.', '_', '-'; at most 128)", i+1, clip(a.Tag))
		}
		if tags[a.Tag] {
			return fmt.Errorf("archive.%d: name %s given twice", i+1, a.Tag)
		}
		tags[a.Tag] = true
		if err := checkDigest(a.Digest); err != nil {
			return fmt.Errorf("archive.%d: %w", i+1, err)
		}
		s, ok := seen[a.Digest]
		if !ok || s.Kind != KindManifest || s.Size != a.Size {
			return fmt.Errorf("archive.%d (%s): its manifest %s is not among the sections", i+1, a.Tag, a.Digest)
		}
	}
	return nil
}

func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", clip(string(d)), err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest %s: only sha256 is used", d)
	}
	return nil
}
