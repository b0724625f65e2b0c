package initramfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// entry is one file of the image: a directory, a symlink (data is the target), a device, or
// a regular file whose bytes are data or the host file src.
type entry struct {
	name        string // relative to the image root, no leading slash
	mode        uint64 // cpio.S_IF* | permissions
	data        []byte
	src         string
	size        int64
	rmaj, rmin  uint64
	contentHash [32]byte
}

// image is a resolved Spec: every entry, and what the modules resolved to.
type image struct {
	spec    Spec
	entries map[string]*entry
	modules []string // load order, names
	builtin []string
}

// udhcpcScript applies a lease with busybox ip, where udhcpc looks for its script by default.
const udhcpcScript = `#!/bin/sh
# Applies a DHCP lease for busybox udhcpc (flarecast initramfs).
[ -n "$1" ] || exit 1
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound|renew)
	ip -4 addr flush dev "$interface"
	ip -4 addr add "$ip/${mask:-24}" dev "$interface"
	for r in $router; do ip -4 route add default via "$r" dev "$interface"; break; done
	: >/etc/resolv.conf
	[ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
	[ -n "$hostname" ] && hostname "$hostname"
	;;
esac
exit 0
`

// resolve turns a Spec into the image's entries, reading (and hashing) every host file.
func resolve(s Spec) (*image, error) {
	img := &image{spec: s, entries: map[string]*entry{}}
	for _, d := range []string{"dev", "proc", "sys", "run", "mnt", "etc", "var", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64"} {
		img.dir(d, 0o755)
	}
	img.dir("tmp", 0o1777)
	img.dir("root", 0o700)
	// The merged /usr layout Debian has: everything lives under usr/, so a host path through
	// /lib or /usr/lib lands on the same entry.
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		img.add(&entry{name: l, mode: cpio.S_IFLNK | 0o777, data: []byte("usr/" + l)})
	}
	// The kernel opens /dev/console for /init's output before anything mounts devtmpfs.
	img.add(&entry{name: "dev/console", mode: cpio.S_IFCHR | 0o600, rmaj: 5, rmin: 1})
	img.add(&entry{name: "dev/null", mode: cpio.S_IFCHR | 0o666, rmaj: 1, rmin: 3})

	if err := img.program(s.Init, "init"); err != nil {
		return nil, fmt.Errorf("initramfs: /init: %w", err)
	}
	tools := map[string]bool{}
	for _, t := range s.Tools {
		host, err := findTool(t, s.ToolDirs)
		if err != nil {
			return nil, fmt.Errorf("initramfs: tool %s: %w", t, err)
		}
		name := path.Base(t)
		tools[name] = true
		if err := img.program(host, "usr/sbin/"+name); err != nil {
			return nil, fmt.Errorf("initramfs: tool %s: %w", t, err)
		}
	}
	if err := img.busybox(s.Busybox, tools); err != nil {
		return nil, err
	}
	img.add(&entry{name: "usr/share/udhcpc/default.script", mode: cpio.S_IFREG | 0o755, data: []byte(udhcpcScript)})
	// Debian's busybox looks for its script here when udhcpc is given none (-s).
	img.add(&entry{name: "etc/udhcpc/default.script", mode: cpio.S_IFLNK | 0o777, data: []byte("/usr/share/udhcpc/default.script")})
	if err := img.kernelModules(); err != nil {
		return nil, err
	}
	for _, f := range s.Files {
		t := strings.TrimPrefix(path.Clean("/"+f.Target), "/")
		if t == "" {
			return nil, fmt.Errorf("initramfs: file %s: no target path", f.Source)
		}
		if err := img.file(f.Source, canonical(t), 0o644); err != nil {
			return nil, fmt.Errorf("initramfs: file: %w", err)
		}
	}
	if err := img.parents(); err != nil {
		return nil, err
	}
	return img, nil
}

func (img *image) dir(name string, perm uint64) {
	img.add(&entry{name: name, mode: cpio.S_IFDIR | perm})
}

func (img *image) add(e *entry) {
	if e.data != nil {
		e.size = int64(len(e.data))
		e.contentHash = sha256.Sum256(e.data)
	}
	img.entries[e.name] = e
}

// file adds the host file src (followed through symlinks) as a regular file at name with
// permissions perm: not the host file's, so that the image does not depend on them.
func (img *image) file(src, name string, perm os.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", src)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	e := &entry{name: name, mode: cpio.S_IFREG | uint64(perm), src: src, size: n}
	copy(e.contentHash[:], h.Sum(nil))
	img.entries[name] = e
	return nil
}

// program adds an executable and, when it is dynamically linked, its loader and libraries.
func (img *image) program(host, name string) error {
	deps, err := resolveELF(host, img.spec.LibraryDirs)
	if err != nil {
		return err
	}
	if err := img.file(host, name, 0o755); err != nil {
		return err
	}
	for loaderPath, hostPath := range deps.libs {
		if err := img.file(hostPath, canonical(loaderPath), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// canonical is where a host path lives in the image: through the host's own directory
// symlinks (/lib -> usr/lib on a merged host), then under usr/ for the top-level directories
// that are symlinks in the image.
func canonical(p string) string {
	dir, base := filepath.Dir(p), filepath.Base(p)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	rel := strings.TrimPrefix(path.Join(dir, base), "/")
	for _, top := range []string{"bin", "sbin", "lib", "lib64"} {
		if rel == top || strings.HasPrefix(rel, top+"/") {
			return "usr/" + rel
		}
	}
	return rel
}

func findTool(t string, dirs []string) (string, error) {
	if filepath.IsAbs(t) {
		return t, nil
	}
	if strings.Contains(t, "/") {
		return "", fmt.Errorf("give a name or an absolute path")
	}
	for _, d := range dirs {
		p := filepath.Join(d, t)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in %s", strings.Join(dirs, ":"))
}

// busybox adds the static busybox and a link for each applet it has, so that sh, mount, ip,
// udhcpc and modprobe are there by their names. A tool of the same name wins.
func (img *image) busybox(bin string, tools map[string]bool) error {
	deps, err := resolveELF(bin, img.spec.LibraryDirs)
	if err != nil {
		return fmt.Errorf("initramfs: busybox: %w", err)
	}
	if len(deps.libs) > 0 {
		return fmt.Errorf("initramfs: busybox %s is dynamically linked: install busybox-static", bin)
	}
	out, err := exec.Command(bin, "--list").Output()
	if err != nil {
		return fmt.Errorf("initramfs: %s --list: %w", bin, err)
	}
	if err := img.file(bin, "usr/bin/busybox", 0o755); err != nil {
		return fmt.Errorf("initramfs: busybox: %w", err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || tools[a] || strings.Contains(a, "/") || a == "." || a == ".." {
			continue
		}
		img.add(&entry{name: "usr/bin/" + a, mode: cpio.S_IFLNK | 0o777, data: []byte("busybox")})
	}
	return nil
}

// kernelModules adds the modules Spec names, their dependencies, the load list and a
// modules.dep of what is there.
func (img *image) kernelModules() error {
	s := img.spec
	tree, err := readModuleTree(filepath.Join(s.ModulesDir, s.KernelVersion))
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	order, builtin, err := tree.resolve(s.Modules)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	base := "usr/lib/modules/" + s.KernelVersion + "/"
	var list bytes.Buffer
	for _, p := range order {
		if err := img.file(filepath.Join(tree.dir, p), base+p, 0o644); err != nil {
			return fmt.Errorf("initramfs: module %s: %w", moduleName(p), err)
		}
		list.WriteString("/lib/modules/" + s.KernelVersion + "/" + p + "\n")
		img.modules = append(img.modules, moduleName(p))
	}
	img.builtin = builtin
	img.add(&entry{name: base + "modules.dep", mode: cpio.S_IFREG | 0o644, data: tree.depFile(order)})
	if _, err := os.Stat(filepath.Join(tree.dir, "modules.builtin")); err == nil {
		if err := img.file(filepath.Join(tree.dir, "modules.builtin"), base+"modules.builtin", 0o644); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	img.add(&entry{name: ModuleLoadList, mode: cpio.S_IFREG | 0o644, data: list.Bytes()})
	return nil
}

// parents gives every entry its directories (the kernel does not make missing ones) and
// refuses a path through a symlink of the image, which the kernel's unpacker would follow.
func (img *image) parents() error {
	for _, name := range slices.Sorted(maps.Keys(img.entries)) {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			p, ok := img.entries[d]
			switch {
			case !ok:
				img.dir(d, 0o755)
			case p.mode&cpio.S_IFMT != cpio.S_IFDIR:
				return fmt.Errorf("initramfs: %s lies under %s, which is not a directory in the image", name, d)
			}
		}
	}
	return nil
}

// sorted lists the entries by path: a directory comes before what it holds.
func (img *image) sorted() []*entry {
	es := make([]*entry, 0, len(img.entries))
	for _, e := range img.entries {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// digest keys the cache: the format, the compression and every entry's name, mode, device
// and content hash, in order.
func (img *image) digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "flarecast-initramfs/v1\ncompression=%s\n", img.spec.Compression)
	for _, e := range img.sorted() {
		fmt.Fprintf(h, "%q %o %d:%d %d %x\n", e.name, e.mode, e.rmaj, e.rmin, e.size, e.contentHash)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
