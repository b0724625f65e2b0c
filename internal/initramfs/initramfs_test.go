package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// needPeers skips when the host lacks what a real image is made from (the Debian kernel's
// module tree, busybox-static, GNU cpio, zstd), unless FLARECAST_REQUIRE_PEERS is set.
func needPeers(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	if _, err := onlyKernel("/lib/modules"); err != nil {
		missing = append(missing, "one kernel under /lib/modules (linux-image-amd64)")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "busybox-static")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("needs %s: run hack/debian-deps.sh", strings.Join(missing, ", "))
	if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Fatalf("%s (FLARECAST_REQUIRE_PEERS is set)", msg)
	}
	t.Skip(msg)
}

// small is an image of the host kernel with a few modules, busybox as /init (any static
// program will do) and two tools, one of them dynamically linked through libstdc++.
func small(c Compression) Spec {
	return Spec{Init: "/bin/busybox", Modules: []string{"virtio_net", "virtio_blk", "ext4"},
		Tools: []string{"sgdisk", "mkfs.ext4"}, Compression: c}
}

func decompress(t *testing.T, file string, c Compression) []byte {
	t.Helper()
	tool := "zstd"
	if c == Gzip {
		tool = "gzip"
	}
	out, err := exec.Command(tool, "-dc", file).Output()
	if err != nil {
		t.Fatalf("%s -dc %s: %v", tool, file, err)
	}
	return out
}

func TestImageListsWithGNUCpioInOrder(t *testing.T) {
	needPeers(t, "cpio", "zstd", "gzip")
	for _, c := range []Compression{Zstd, Gzip} {
		t.Run(string(c), func(t *testing.T) {
			r, err := Build(small(c), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("cpio", "-t", "--quiet")
			cmd.Stdin = bytes.NewReader(decompress(t, r.Path, c))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cpio -t: %v", err)
			}
			names := strings.Fields(string(out))
			seen := map[string]bool{}
			for i, n := range names {
				if i > 0 && names[i-1] >= n {
					t.Errorf("entries out of order: %q before %q", names[i-1], n)
				}
				if d := path.Dir(n); d != "." && !seen[d] {
					t.Errorf("%s comes before its directory %s", n, d)
				}
				seen[n] = true
			}
			kv := "usr/lib/modules/" + r.KernelVersion + "/"
			for _, want := range []string{
				"init", "dev/console", "usr/bin/busybox", "usr/bin/sh", "usr/bin/udhcpc", "usr/bin/ip", "usr/bin/mount",
				"usr/sbin/sgdisk", "usr/sbin/mkfs.ext4", "usr/lib64/ld-linux-x86-64.so.2",
				"usr/lib/x86_64-linux-gnu/libstdc++.so.6", "usr/lib/x86_64-linux-gnu/libext2fs.so.2",
				kv + "kernel/drivers/net/virtio_net.ko", kv + "kernel/drivers/virtio/virtio_ring.ko",
				kv + "kernel/fs/ext4/ext4.ko", kv + "modules.dep", ModuleLoadList, "etc/mke2fs.conf",
				"usr/share/udhcpc/default.script", "etc/udhcpc/default.script",
			} {
				if !seen[want] {
					t.Errorf("%s missing from the image", want)
				}
			}
		})
	}
}

// readImage reads an image back with u-root's reader into name -> record, content read.
func readImage(t *testing.T, data []byte) (map[string]cpio.Info, map[string][]byte) {
	t.Helper()
	infos, content := map[string]cpio.Info{}, map[string][]byte{}
	rr := cpio.EOFReader{RecordReader: cpio.Newc.Reader(bytes.NewReader(data))}
	for {
		rec, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return infos, content
		}
		if err != nil {
			t.Fatalf("read image: %v", err)
		}
		b, err := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		if err != nil {
			t.Fatal(err)
		}
		infos[rec.Name], content[rec.Name] = rec.Info, b
	}
}

func TestModulesLoadAfterWhatTheyNeed(t *testing.T) {
	needPeers(t, "zstd")
	r, err := Build(small(Zstd), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	infos, content := readImage(t, decompress(t, r.Path, Zstd))
	tree, err := readModuleTree(filepath.Join("/lib/modules", r.KernelVersion))
	if err != nil {
		t.Fatal(err)
	}
	list := strings.Fields(string(content[ModuleLoadList]))
	if len(list) != len(r.Modules) {
		t.Fatalf("load list has %d modules, result says %d", len(list), len(r.Modules))
	}
	pos := map[string]int{}
	prefix := "/lib/modules/" + r.KernelVersion + "/"
	for i, p := range list {
		rel := strings.TrimPrefix(p, prefix)
		pos[rel] = i
		if _, ok := infos["usr"+p]; !ok {
			t.Errorf("load list names %s, which is not in the image", p)
		}
		for _, d := range tree.deps[rel] {
			if j, ok := pos[d]; !ok || j >= i {
				t.Errorf("%s is loaded before %s, which it needs", rel, d)
			}
		}
	}
	for _, m := range []string{"virtio_ring", "virtio", "failover", "net_failover", "virtio_net", "virtio_blk", "jbd2", "mbcache", "ext4"} {
		if !slices.Contains(r.Modules, m) {
			t.Errorf("module %s missing from %v", m, r.Modules)
		}
	}
	if got, want := string(content["init"]), mustRead(t, "/bin/busybox"); got != want {
		t.Errorf("/init differs from its source")
	}
	if infos["init"].Mode != cpio.S_IFREG|0o755 || infos["init"].MTime != 0 || infos["init"].UID != 0 {
		t.Errorf("/init: %v, want a root-owned 0755 file dated 0", infos["init"])
	}
}

// A Diskless node's agent mounts its NFS root and lays an overlay over it from the image's
// modules alone, and a UEFI install writes the NVRAM through efivarfs: the defaults carry
// them, each after what it needs.
func TestTheDefaultModulesCarryWhatADisklessRootNeeds(t *testing.T) {
	v, err := onlyKernel("/lib/modules")
	if err != nil {
		t.Skipf("no kernel module tree here: %v", err)
	}
	tree, err := readModuleTree(filepath.Join("/lib/modules", v))
	if err != nil {
		t.Fatal(err)
	}
	order, builtin, err := tree.resolve(DefaultModules)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range order {
		names = append(names, moduleName(p))
	}
	names = append(names, builtin...)
	pos := map[string]int{}
	for i, n := range names {
		pos[n] = i
	}
	for _, m := range []string{"sunrpc", "lockd", "nfs", "nfs_acl", "nfsv3", "overlay", "efivarfs"} {
		if _, ok := pos[m]; !ok {
			t.Errorf("module %s is not in the defaults' image (%v)", m, names)
		}
	}
	if pos["sunrpc"] > pos["nfs"] || pos["nfs"] > pos["nfsv3"] {
		t.Errorf("NFS loads before what it needs: %v", names)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeTree writes a module tree: modules.dep as given, an empty file per module.
func fakeTree(t *testing.T, dep string, builtin ...string) string {
	t.Helper()
	dir := t.TempDir()
	kv := filepath.Join(dir, "9.9.9-test")
	for _, l := range strings.Split(dep, "\n") {
		for _, f := range strings.Fields(strings.ReplaceAll(l, ":", " ")) {
			p := filepath.Join(kv, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(kv, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kv, "modules.builtin"), []byte(strings.Join(builtin, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestResolveOrdersAsModprobe(t *testing.T) {
	// As depmod writes it: a module's full dependency list, which modprobe loads last first.
	kv := fakeTree(t, `kernel/a.ko: kernel/b.ko kernel/c-x.ko kernel/d.ko
kernel/b.ko: kernel/c-x.ko kernel/d.ko
kernel/c-x.ko: kernel/d.ko
kernel/d.ko:
kernel/e.ko: kernel/d.ko
`, "kernel/fs/ext4/ext4.ko")
	tree, err := readModuleTree(kv)
	if err != nil {
		t.Fatal(err)
	}
	order, builtin, err := tree.resolve([]string{"e", "a", "ext4", "c-x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/d.ko", "kernel/e.ko", "kernel/c-x.ko", "kernel/b.ko", "kernel/a.ko"}
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if !slices.Equal(builtin, []string{"ext4"}) {
		t.Errorf("builtin %v, want [ext4]", builtin)
	}
}

func TestMissingModuleIsAClearError(t *testing.T) {
	kv := fakeTree(t, "kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n")
	tree, err := readModuleTree(kv)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tree.resolve([]string{"a", "no_such_nic", "nope-blk"})
	if !errors.Is(err, ErrMissingModule) {
		t.Fatalf("err = %v, want ErrMissingModule", err)
	}
	for _, want := range []string{"no_such_nic", "nope_blk", kv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// And through Build: nothing is written to the cache.
	cache := t.TempDir()
	_, err = Build(Spec{Init: "/bin/busybox", ModulesDir: filepath.Dir(kv), Modules: []string{"a", "no_such_nic"}, Tools: []string{}, Files: []File{}}, cache)
	if !errors.Is(err, ErrMissingModule) {
		t.Fatalf("Build: err = %v, want ErrMissingModule", err)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("a failed build left %d files in the cache", len(ents))
	}
}

func TestBadModuleTreesAreRefused(t *testing.T) {
	for name, dep := range map[string]string{
		"cycle":          "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n",
		"unlisted dep":   "kernel/a.ko: kernel/zz.ko\n",
		"escaping path":  "../../etc/passwd.ko:\n",
		"absolute dep":   "kernel/a.ko: /etc/shadow.ko\n",
		"not a dep line": "kernel/a.ko\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644); err != nil {
				t.Fatal(err)
			}
			tree, err := readModuleTree(dir)
			if err == nil {
				_, _, err = tree.resolve([]string{"a", "passwd"})
			}
			if err == nil {
				t.Fatalf("modules.dep %q accepted", dep)
			}
		})
	}
}

func TestBuildsAreByteEqualAndCached(t *testing.T) {
	needPeers(t)
	var a, b bytes.Buffer
	ra, err := Write(&a, small(Zstd))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, small(Zstd)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two builds of the same inputs differ (%d and %d bytes)", a.Len(), b.Len())
	}
	// The zstd stream is one the reference decoder reads.
	if _, err := zstd.NewReader(bytes.NewReader(a.Bytes())); err != nil {
		t.Fatal(err)
	}

	cache := t.TempDir()
	r1, err := Build(small(Zstd), cache)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Build(small(Zstd), cache)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Cached || !r2.Cached || r1.Path != r2.Path || r1.Digest != ra.Digest {
		t.Errorf("first %+v, second %+v: want one build, then the same file from the cache", r1, r2)
	}
	if got := mustRead(t, r1.Path); got != a.String() {
		t.Errorf("cached image differs from the written one")
	}

	// Another /init with other bytes is another image.
	other := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(other, append([]byte(mustRead(t, "/bin/busybox")), 0), 0o755); err != nil {
		t.Fatal(err)
	}
	s := small(Zstd)
	s.Init = other
	r3, err := Build(s, cache)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Cached || r3.Digest == r1.Digest || r3.Path == r1.Path {
		t.Errorf("changed /init gave %+v, same as %+v", r3, r1)
	}
}

// TestToolsRunInsideTheImage unpacks the image with GNU cpio and runs the tools in it under
// chroot: their loader and libraries are all there, at the paths the loader opens.
func TestToolsRunInsideTheImage(t *testing.T) {
	needPeers(t, "cpio", "zstd")
	if os.Geteuid() != 0 {
		if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
			t.Fatal("needs root for chroot (FLARECAST_REQUIRE_PEERS is set)")
		}
		t.Skip("needs root for chroot")
	}
	r, err := Build(Spec{Init: "/bin/busybox", Modules: []string{}}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet", "-D", root)
	cmd.Stdin = bytes.NewReader(decompress(t, r.Path, Zstd))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	script := `set -e
truncate -s 64M /tmp/disk
sgdisk -n 1:0:+8M -t 1:ef00 -n 2:0:0 /tmp/disk >/dev/null
sgdisk -p /tmp/disk | grep -q EF00
truncate -s 16M /tmp/ext4 /tmp/swap
mkfs.ext4 -q -F /tmp/ext4
mkswap /tmp/swap >/dev/null
truncate -s 400M /tmp/xfs
mkfs.xfs -q /tmp/xfs
mkfs.vfat -C /tmp/fat 8192 >/dev/null
blkid /tmp/ext4 /tmp/swap /tmp/xfs /tmp/fat
wipefs -a /tmp/ext4 >/dev/null
`
	out, err := exec.Command("chroot", root, "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("tools in the image: %v\n%s", err, out)
	}
	for _, want := range []string{`TYPE="ext4"`, `TYPE="swap"`, `TYPE="xfs"`, `TYPE="vfat"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("blkid in the image did not see %s:\n%s", want, out)
		}
	}
}
