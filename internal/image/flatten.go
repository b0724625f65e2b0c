package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/flarecast/flarecast/internal/tarball"
)

// The OCI image spec's whiteout names.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// FlattenStats counts what Flatten did.
type FlattenStats struct {
	Layers int
	// Entries were written; Hidden were in a layer but hidden by a higher one (replaced,
	// whited out, under an opaque directory or under a non-directory); Whiteouts and Opaques
	// are the markers met.
	Entries, Hidden, Whiteouts, Opaques int
}

// Flatten writes the image's root file system to w as one tar stream: the view a container
// sees with every layer stacked. Entries come top layer first; package tarball puts them in
// canonical order when it packs them. It fails, naming the layer and the entry, on a blob or
// layer that does not match its digest, an entry that climbs out of the root, and a hard link
// whose target the layers do not hold.
func (im *Image) Flatten(ctx context.Context, w io.Writer) (FlattenStats, error) {
	f := &flattener{
		im: im, tw: tar.NewWriter(w),
		seen: map[string]int{}, nondir: map[string]bool{},
		whiteout: map[string]bool{}, opaque: map[string]bool{},
		pending: map[string][]string{}, fixups: map[int]map[string][]string{},
	}
	for i := len(im.Layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return f.st, err
		}
		if err := f.layer(ctx, i); err != nil {
			return f.st, fmt.Errorf("image %s: layer %d (%s): %w", im.Ref, i, im.Layers[i].Digest, err)
		}
		f.st.Layers++
	}
	for _, i := range sortedKeys(f.fixups) {
		if err := f.fixup(ctx, i); err != nil {
			return f.st, fmt.Errorf("image %s: layer %d (%s): %w", im.Ref, i, im.Layers[i].Digest, err)
		}
	}
	for _, target := range sortedKeys(f.pending) {
		if _, ok := f.seen[target]; !ok {
			return f.st, fmt.Errorf("image %s: hard link %s points at %s, which no layer holds", im.Ref, f.pending[target][0], target)
		}
	}
	if err := f.tw.Close(); err != nil {
		return f.st, err
	}
	return f.st, nil
}

type flattener struct {
	im *Image
	tw *tar.Writer
	st FlattenStats
	// seen is every path written (or reserved by a fixup), with the layer it came from.
	seen map[string]int
	// nondir are the written paths that are not directories: lower entries under them are
	// hidden.
	nondir map[string]bool
	// whiteout and opaque are what the layers above the current one hide.
	whiteout, opaque map[string]bool
	// pending are hard-link targets expected from a lower layer, with the links' names.
	pending map[string][]string
	// fixups[layer][target] are links whose target is hidden or replaced above: they get
	// the target's content from that layer, read a second time.
	fixups map[int]map[string][]string
}

// hidden reports whether a higher layer hides name: whited out itself or through an
// ancestor, or under an opaque directory or a non-directory of a higher layer.
func (f *flattener) hidden(name string) bool {
	for p := name; ; p = path.Dir(p) {
		if f.whiteout[p] {
			return true
		}
		if p != name && (f.opaque[p] || f.nondir[p]) {
			return true
		}
		if p == "." {
			return false
		}
	}
}

func (f *flattener) layer(ctx context.Context, i int) error {
	var whiteouts, opaques []string
	err := f.read(ctx, i, func(hdr *tar.Header, name string, tr *tar.Reader) error {
		base, dir := path.Base(name), path.Dir(name)
		switch {
		case base == opaqueMarker:
			opaques = append(opaques, dir)
			f.st.Opaques++
			return nil
		case strings.HasPrefix(base, whiteoutPrefix):
			target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
			if target == "." || strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
				return fmt.Errorf("entry %q: not a whiteout the image spec defines", hdr.Name)
			}
			whiteouts = append(whiteouts, target)
			f.st.Whiteouts++
			return nil
		}
		if _, done := f.seen[name]; done || f.hidden(name) {
			f.st.Hidden++
			return nil
		}
		if hdr.Typeflag == tar.TypeLink {
			target, err := cleanName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("hard link %q: %w", hdr.Name, err)
			}
			from, ok := f.seen[target]
			switch {
			case ok && from == i:
			case ok || f.hidden(target):
				// The target was replaced or hidden above, but this link keeps the content
				// it had in this layer: that content is read again, after the main pass.
				if f.fixups[i] == nil {
					f.fixups[i] = map[string][]string{}
				}
				f.fixups[i][target] = append(f.fixups[i][target], name)
				f.seen[name] = i
				f.nondir[name] = true
				return nil
			default:
				f.pending[target] = append(f.pending[target], name)
			}
			hdr.Linkname = target
		}
		return f.write(hdr, name, i, tr)
	})
	if err != nil {
		return err
	}
	// A layer's markers hide what the layers below hold, not its own entries.
	for _, p := range whiteouts {
		f.whiteout[p] = true
	}
	for _, p := range opaques {
		f.opaque[p] = true
	}
	return nil
}

// fixup writes, for every link of layer i whose target is hidden above, the target's content
// under the link's name (and its other links as hard links to that one).
func (f *flattener) fixup(ctx context.Context, i int) error {
	want := f.fixups[i]
	found := map[string]bool{}
	err := f.read(ctx, i, func(hdr *tar.Header, name string, tr *tar.Reader) error {
		links, ok := want[name]
		if !ok || found[name] || hdr.Typeflag != tar.TypeReg {
			return nil
		}
		found[name] = true
		file := *hdr
		file.Name = links[0]
		if err := f.writeHeader(&file, tr); err != nil {
			return err
		}
		for _, l := range links[1:] {
			if err := f.writeHeader(&tar.Header{Typeflag: tar.TypeLink, Name: l, Linkname: links[0], Mode: hdr.Mode,
				Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime, Format: tar.FormatPAX}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, target := range sortedKeys(want) {
		if !found[target] {
			return fmt.Errorf("hard link %s points at %s, which is replaced or removed by a higher layer and is not a file of this one", want[target][0], target)
		}
	}
	return nil
}

func (f *flattener) write(hdr *tar.Header, name string, layer int, tr *tar.Reader) error {
	h := *hdr
	h.Name = name
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	if name == "." {
		h.Name = "./"
	}
	if err := f.writeHeader(&h, tr); err != nil {
		return err
	}
	f.seen[name] = layer
	if hdr.Typeflag != tar.TypeDir {
		f.nondir[name] = true
	}
	return nil
}

func (f *flattener) writeHeader(h *tar.Header, body io.Reader) error {
	// PAX keeps the xattr records (file capabilities among them) and long names.
	h.Format = tar.FormatPAX
	if h.Typeflag != tar.TypeReg {
		h.Size = 0
	}
	if err := f.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", h.Name, err)
	}
	if h.Typeflag == tar.TypeReg && body != nil {
		if _, err := io.Copy(f.tw, body); err != nil {
			return fmt.Errorf("copy %s: %w", h.Name, err)
		}
	}
	f.st.Entries++
	return nil
}

// read streams layer i's entries to fn with their cleaned names, then checks the layer: the
// blob against its descriptor, the uncompressed tar against the config's diff_id.
func (f *flattener) read(ctx context.Context, i int, fn func(hdr *tar.Header, name string, tr *tar.Reader) error) error {
	lr, err := f.im.openLayer(ctx, i)
	if err != nil {
		return err
	}
	defer lr.Close()
	plain, release, err := tarball.Decompressed(lr)
	if err != nil {
		return err
	}
	defer release()
	diffID := f.im.Config.RootFS.DiffIDs[i]
	if err := diffID.Validate(); err != nil {
		return fmt.Errorf("diff_id %q: %w", diffID, err)
	}
	verifier := diffID.Verifier()
	tarStream := io.TeeReader(plain, verifier)
	tr := tar.NewReader(tarStream)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		if err := fn(hdr, name, tr); err != nil {
			return err
		}
	}
	// The tar's end-of-archive blocks are part of the diff_id, and the blob's digest covers
	// what follows them.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return fmt.Errorf("read tar: %w", err)
	}
	if !verifier.Verified() {
		return fmt.Errorf("its uncompressed content does not match the diff_id %s its config gives", diffID)
	}
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return err
	}
	if err := lr.Verify(); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// cleanName is an entry's path relative to the root ("." for the root itself), refusing one
// that climbs out of it: layers name paths from the root, with or without "./" or "/".
func cleanName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("path %q climbs out of the root file system", name)
	}
	return p, nil
}

func sortedKeys[V any, K ~string | ~int](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
