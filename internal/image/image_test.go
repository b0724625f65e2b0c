package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/tarball"
)

// The peers are crane (go-containerregistry) as the registry, the image builder and the
// reference flattener (crane export), and GNU tar as the reader of what flarecast packs:
// programs no one here wrote, built into bin/ by hack/test-peers.sh.

func peer(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "..", "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatalf("%s is missing and FLARECAST_REQUIRE_PEERS is set: run hack/test-peers.sh", path)
		}
		t.Skipf("%s is missing: run hack/test-peers.sh (FLARECAST_REQUIRE_PEERS=1 makes this a failure)", path)
	}
	return path
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// startRegistry runs crane's registry on a free loopback port until the test ends.
func startRegistry(t *testing.T) string {
	t.Helper()
	crane := peer(t, "crane")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(crane, "registry", "serve", "--address", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("crane registry did not answer on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	xattrs           map[string]string
}

func writeLayer(t *testing.T, dir, name string, entries []entry) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)),
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// file capability cap_net_bind_service=ep, as setcap writes it (VFS_CAP_REVISION_2).
var capNetBind = string([]byte{0, 0, 0, 2, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

var (
	lower = []entry{
		{name: "./", typ: tar.TypeDir},
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/keep", body: "kept\n"},
		{name: "etc/gone", body: "whited out\n"},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/old/", typ: tar.TypeDir, mode: 0o700},
		{name: "opt/old/a", body: "hidden by the opaque directory\n"},
		{name: "srv/", typ: tar.TypeDir},
		{name: "srv/f", body: "hidden under a file\n"},
		{name: "usr/", typ: tar.TypeDir},
		{name: "usr/bin/", typ: tar.TypeDir},
		{name: "usr/bin/ping", body: "ELF ping\n", mode: 0o4755, xattrs: map[string]string{"security.capability": capNetBind}},
		{name: "usr/bin/ping6", typ: tar.TypeLink, link: "usr/bin/ping"},
		{name: "usr/lib", typ: tar.TypeSymlink, link: "/lib"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "var/", typ: tar.TypeDir},
		{name: "var/x", body: "old x\n"},
	}
	upper = []entry{
		{name: "etc/.wh.gone"},
		{name: "opt/old/.wh..wh..opq"},
		{name: "opt/old/b", body: "new in the opaque directory\n"},
		{name: "srv", body: "a file where a directory was\n"},
		{name: "var/x", body: "new x\n", mode: 0o600},
		{name: "etc/keep2", typ: tar.TypeLink, link: "etc/keep"}, // a hard link to a lower layer's file
	}
)

// pushImage builds a two-layer image for each arch with crane, and an index of them.
func pushImage(t *testing.T, reg string, layers ...[]entry) (index string) {
	t.Helper()
	crane := peer(t, "crane")
	dir := t.TempDir()
	var args []string
	for i, l := range layers {
		args = append(args, "-f", writeLayer(t, dir, fmt.Sprintf("layer%d.tar", i), l))
	}
	base := reg + "/node:layers"
	run(t, crane, append([]string{"append", "--oci-empty-base", "-t", base}, args...)...)
	var manifests []string
	for _, arch := range []string{"amd64", "arm64"} {
		tag := reg + "/node:" + arch
		run(t, crane, "mutate", "--set-platform", "linux/"+arch, "-t", tag, base)
		manifests = append(manifests, "-m", tag)
	}
	index = reg + "/node:multi"
	run(t, crane, append([]string{"index", "append", "-t", index}, manifests...)...)
	return index
}

func flatten(t *testing.T, ref string, p Platform) ([]byte, *Image, FlattenStats) {
	t.Helper()
	ctx := context.Background()
	src, err := Open(ctx, ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	im, err := src.Image(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := im.Flatten(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), im, st
}

// pack is what a Generic archive's build does with the flattened stream: the deterministic
// packer, here without compression so GNU tar reads it directly.
func pack(t *testing.T, stream []byte) ([]byte, string) {
	t.Helper()
	var out bytes.Buffer
	st, err := tarball.Pack(context.Background(), tarball.TarSource(bytes.NewReader(stream)), &out,
		tarball.PackOptions{Compression: tarball.Plain, TempDir: t.TempDir(), SourceDateEpoch: 1700000000})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), st.DiffID
}

func gnuExtract(t *testing.T, tarBytes []byte) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("tar", "-x", "-p", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", dir)
	cmd.Stdin = bytes.NewReader(tarBytes)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GNU tar: %v\n%s", err, out)
	}
	return dir
}

// tree describes a directory: each path's type, mode, content or link target, capability,
// and which paths share an inode.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(data)
			ino := fi.Sys().(*syscall.Stat_t).Ino
			if first, ok := inodes[ino]; ok {
				desc += " (hard link of " + first + ")"
			} else {
				inodes[ino] = rel
			}
			buf := make([]byte, 64)
			if n, err := unix.Lgetxattr(p, "security.capability", buf); err == nil {
				desc += " cap=" + hex.EncodeToString(buf[:n])
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		if rel != "." {
			out[rel] = desc
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFlattenedImageUnpacksLikeCraneExport(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("restoring owners and file capabilities needs root")
	}
	reg := startRegistry(t)
	// The reference tree has no hard link across layers: crane export writes such a link
	// before its target, which GNU tar cannot follow; it is checked on its own below.
	index := pushImage(t, reg, lower, upper[:len(upper)-1])
	stream, im, st := flatten(t, index, Platform{OS: "linux", Architecture: "amd64"})
	if im.IndexDigest == "" || im.Platform.Architecture != "amd64" {
		t.Fatalf("picked %s from index %q", im.Platform, im.IndexDigest)
	}
	if st.Layers != 2 || st.Whiteouts != 1 || st.Opaques != 1 {
		t.Errorf("stats %+v: want 2 layers, 1 whiteout, 1 opaque directory", st)
	}
	packed, _ := pack(t, stream)
	got := tree(t, gnuExtract(t, packed))

	exported := filepath.Join(t.TempDir(), "export.tar")
	run(t, peer(t, "crane"), "export", reg+"/node:amd64", exported)
	data, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	want := tree(t, gnuExtract(t, data))
	if diff := diffTrees(got, want); diff != "" {
		t.Errorf("flarecast's flattened tree differs from crane export's:\n%s", diff)
	}
	for path, wantDesc := range map[string]string{
		"usr/bin/ping": "urwxr-xr-x ELF ping\n cap=" + hex.EncodeToString([]byte(capNetBind)),
		"etc/keep":     "-rw-r--r-- kept\n",
		"var/x":        "-rw------- new x\n",
		"opt/old/b":    "-rw-r--r-- new in the opaque directory\n",
		"srv":          "-rw-r--r-- a file where a directory was\n",
	} {
		if got[path] != wantDesc {
			t.Errorf("%s: %q, want %q", path, got[path], wantDesc)
		}
	}
	for _, gone := range []string{"etc/gone", "opt/old/a", "srv/f"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s is still there: a higher layer hides it", gone)
		}
	}
	if !strings.Contains(got["usr/bin/ping6"], "(hard link of usr/bin/ping)") && !strings.Contains(got["usr/bin/ping"], "(hard link of usr/bin/ping6)") {
		t.Errorf("ping and ping6 are no longer one file: %q %q", got["usr/bin/ping"], got["usr/bin/ping6"])
	}
}

func diffTrees(got, want map[string]string) string {
	var lines []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			lines = append(lines, fmt.Sprintf("  missing %s (%q)", p, w))
		} else if g != w {
			lines = append(lines, fmt.Sprintf("  %s: %q, crane export: %q", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, fmt.Sprintf("  extra %s (%q)", p, g))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestAHardLinkToALowerLayersFileKeepsItsContent(t *testing.T) {
	reg := startRegistry(t)
	index := pushImage(t, reg, lower, upper)
	stream, _, _ := flatten(t, index, Platform{OS: "linux", Architecture: "amd64"})
	packed, _ := pack(t, stream)
	tr := tar.NewReader(bytes.NewReader(packed))
	links := map[string]string{}
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeLink:
			links[h.Name] = h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			files[h.Name] = string(b)
		}
	}
	// One of the two names holds the content, the other links to it (the packer writes a
	// file at the first of its names in entry order).
	if !(files["etc/keep"] == "kept\n" && links["etc/keep2"] == "etc/keep") && !(files["etc/keep2"] == "kept\n" && links["etc/keep"] == "etc/keep2") {
		t.Fatalf("etc/keep and etc/keep2: files %q %q, links %q %q", files["etc/keep"], files["etc/keep2"], links["etc/keep"], links["etc/keep2"])
	}
}

func TestALinkWhoseTargetIsWhitedOutKeepsTheContent(t *testing.T) {
	reg := startRegistry(t)
	index := pushImage(t, reg,
		[]entry{{name: "a", body: "content\n"}, {name: "b", typ: tar.TypeLink, link: "a"}},
		[]entry{{name: ".wh.a"}})
	stream, _, _ := flatten(t, index, Platform{OS: "linux", Architecture: "amd64"})
	packed, _ := pack(t, stream)
	tr := tar.NewReader(bytes.NewReader(packed))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "b" {
			if h.Typeflag != tar.TypeReg {
				t.Fatalf("b is a %c, want a regular file (its target a is gone)", h.Typeflag)
			}
			if body, _ := io.ReadAll(tr); string(body) != "content\n" {
				t.Fatalf("b holds %q", body)
			}
		}
	}
	if strings.Join(names, " ") != "b" {
		t.Fatalf("entries %v, want only b", names)
	}
}

func TestTheSameImageFlattensToTheSameBytesFromARegistryALayoutAndAnArchive(t *testing.T) {
	reg := startRegistry(t)
	index := pushImage(t, reg, lower, upper)
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	fromRegistry, im, _ := flatten(t, index, amd64)

	layout := filepath.Join(t.TempDir(), "layout")
	run(t, peer(t, "crane"), "pull", "--format=oci", index, layout)
	before := dirDigest(t, layout)
	fromLayout, im2, _ := flatten(t, LayoutPrefix+layout, amd64)
	if after := dirDigest(t, layout); after != before {
		t.Error("reading an OCI layout changed it")
	}
	archive := filepath.Join(t.TempDir(), "node.oci.tar")
	run(t, "tar", "-C", layout, "-cf", archive, ".")
	fromArchive, _, _ := flatten(t, ArchivePrefix+archive, amd64)

	if im.Digest != im2.Digest {
		t.Fatalf("the layout's manifest %s is not the registry's %s", im2.Digest, im.Digest)
	}
	_, d1 := pack(t, fromRegistry)
	_, d2 := pack(t, fromLayout)
	_, d3 := pack(t, fromArchive)
	if d1 != d2 || d1 != d3 {
		t.Fatalf("packed diff_ids: registry %s, layout %s, archive %s", d1, d2, d3)
	}
	if im.Config.Architecture != "amd64" || im.Config.OS != "linux" {
		t.Errorf("config: %+v", im.Config.Platform)
	}
}

func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(h, p)
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

func TestBadImagesAreRefusedNamingWhatAndWhere(t *testing.T) {
	reg := startRegistry(t)
	ctx := context.Background()
	index := pushImage(t, reg, lower, upper)

	src, err := Open(ctx, index, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Image(ctx, Platform{OS: "linux", Architecture: "s390x"}); err == nil ||
		!strings.Contains(err.Error(), "no manifest for linux/s390x") || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("a platform the index lacks: %v", err)
	}
	if _, err := Open(ctx, reg+"/absent:1", Options{}); err == nil || !strings.Contains(err.Error(), "absent:1") {
		t.Errorf("an image that is not there: %v", err)
	}

	t.Run("a layer that does not match its digest", func(t *testing.T) {
		layout := filepath.Join(t.TempDir(), "layout")
		run(t, peer(t, "crane"), "pull", "--format=oci", index, layout)
		src, err := Open(ctx, LayoutPrefix+layout, Options{})
		if err != nil {
			t.Fatal(err)
		}
		im, err := src.Image(ctx, Platform{OS: "linux", Architecture: "amd64"})
		if err != nil {
			t.Fatal(err)
		}
		blob := filepath.Join(layout, "blobs", "sha256", im.Layers[0].Digest.Encoded())
		data, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = im.Flatten(ctx, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "layer 0 ("+im.Layers[0].Digest.String()+")") {
			t.Fatalf("got %v, want a refusal naming layer 0 and its digest", err)
		}
	})
	for name, layer := range map[string][]entry{
		"an entry that climbs out":   {{name: "../../etc/passwd", body: "x"}},
		"a whiteout that climbs out": {{name: "../.wh.etc"}},
		"a hard link out of the root": {{name: "a", body: "x"},
			{name: "b", typ: tar.TypeLink, link: "../../etc/shadow"}},
	} {
		t.Run(name, func(t *testing.T) {
			ref := pushImage(t, reg, lower, layer)
			src, err := Open(ctx, ref, Options{})
			if err != nil {
				t.Fatal(err)
			}
			im, err := src.Image(ctx, Platform{OS: "linux", Architecture: "amd64"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = im.Flatten(ctx, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "climbs out of the root") || !strings.Contains(err.Error(), "layer 1") {
				t.Fatalf("got %v, want a refusal naming layer 1 and the path", err)
			}
		})
	}

}
