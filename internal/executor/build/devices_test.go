package build

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
	"github.com/flarecast/flarecast/internal/tarball"
)

// inUserNamespaceEnv, set to WHAT:DIR, makes a re-run of the test binary (TestMain) do what
// the test runs in a user namespace on DIR, as a build in a user-namespaced pod does: "complete"
// completes and packs DIR/root (completeAndPack), "debian" makes it with mmdebstrap
// (debianAndPack) from the mirror mirrorEnv names.
const inUserNamespaceEnv = "FLARECAST_TEST_IN_USER_NAMESPACE"

const mirrorEnv = "FLARECAST_TEST_MIRROR"

func TestMain(m *testing.M) {
	if v := os.Getenv(inUserNamespaceEnv); v != "" {
		what, dir, _ := strings.Cut(v, ":")
		run := map[string]func(string) error{"complete": completeAndPack,
			"debian": func(dir string) error { return debianAndPack(dir, os.Getenv(mirrorEnv)) }}[what]
		if run == nil {
			fmt.Fprintf(os.Stderr, "%s: unknown %q\n", inUserNamespaceEnv, v)
			os.Exit(2)
		}
		// What the test shows is the build where device nodes cannot be made.
		probe := filepath.Join(dir, "mknod-probe")
		if err := unix.Mknod(probe, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
			fmt.Fprintln(os.Stderr, "mknod works here: not a user namespace")
			os.Exit(1)
		}
		if err := run(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const devEpoch = 1700000000

// completeAndPack completes the /dev of dir/root and packs the root, its stand-ins as the
// nodes they stand for, into dir/packed.tar.
func completeAndPack(dir string) error {
	r := &rootDir{dir: filepath.Join(dir, "root")}
	if err := r.completeDev(); err != nil {
		return err
	}
	return packTo(r, filepath.Join(dir, "packed.tar"))
}

// debianAndPack makes dir/root a Debian base from the mirror directory (mmdebstrap's extract
// variant: no package, no network) and packs it into dir/packed.tar.
func debianAndPack(dir, mirror string) error {
	r := &rootDir{dir: filepath.Join(dir, "root")}
	// "[trusted=yes]" rides in the mirror: the test's mirror has no signed Release.
	m := &Master{Base: MasterBase{Debian: &Debian{Suite: "bookworm", Mirror: "[trusted=yes] file://" + mirror, Variant: "extract"}},
		SourceDateEpoch: devEpoch}
	if err := makeBase(context.Background(), m, runtime.GOARCH, Limits{AllowBuildSources: true}.withDefaults(), dir, r, nil, map[string]string{}, nil); err != nil {
		return err
	}
	return packTo(r, filepath.Join(dir, "packed.tar"))
}

// namespaceDir is a directory with an empty root in it that a user namespace's root can reach
// (under /tmp, not t.TempDir, whose parents are the host root's, 0700).
func namespaceDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "flarecast-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "root"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func packTo(r *rootDir, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tarball.Pack(context.Background(), r.source(), f, tarball.PackOptions{Compression: tarball.Plain, SourceDateEpoch: devEpoch}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// baseDev reads the root entry and the ./dev entries of the root-built Debian base.
func baseDev(t *testing.T) []*tar.Header {
	t.Helper()
	f, err := os.Open(buildtest.BaseTar(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*tar.Header
	tr := tar.NewReader(f) // it seeks over the files' contents
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read the Debian base: %v", err)
		}
		if name := strings.TrimPrefix(hdr.Name, "./"); name == "" || name == "dev/" || strings.HasPrefix(name, "dev/") {
			out = append(out, hdr)
		}
	}
	if len(out) < 2 {
		t.Fatalf("the Debian base has no root or no ./dev entries: %d entries", len(out))
	}
	return out
}

// describe is one /dev entry as a line: path, type, mode, owner, device number or target.
func describe(path string, typ byte, mode int64, uid, gid int, major, minor int64, target string) string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "./"), "/")
	if path == "" || path == "." {
		path = "."
	}
	s := fmt.Sprintf("%s %c %04o %d:%d", path, typ, mode&0o7777, uid, gid)
	switch typ {
	case tar.TypeChar, tar.TypeBlock:
		s += fmt.Sprintf(" %d,%d", major, minor)
	case tar.TypeSymlink:
		s += " -> " + target
	}
	return s
}

func listed() []string {
	var out []string
	for _, e := range mmdebstrapDev {
		typ := map[uint32]byte{unix.S_IFDIR: tar.TypeDir, unix.S_IFCHR: tar.TypeChar, unix.S_IFLNK: tar.TypeSymlink}[e.kind]
		out = append(out, describe(e.path, typ, int64(e.mode), 0, 0, int64(e.major), int64(e.minor), e.target))
	}
	return out
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("mmdebstrapDev (-) and %s (+) differ:\n-%s\n+%s", what, strings.Join(want, "\n-"), strings.Join(got, "\n+"))
	}
}

// The /dev entries a build completes a Debian root with are those of the base that
// hack/debian-base.sh built with mmdebstrap as root: names, types, modes, owners, device
// numbers and link targets.
func TestMmdebstrapDevIsTheRootBuiltBase(t *testing.T) {
	var got []string
	for _, h := range baseDev(t) {
		if strings.TrimPrefix(h.Name, "./") != "" {
			got = append(got, describe(h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Devmajor, h.Devminor, h.Linkname))
		}
	}
	sameLines(t, "the ./dev of "+buildtest.BaseTar(t), got, listed())
}

// devfile is one entry of mmdebstrap's @devfiles: its name, octal mode, type, link target,
// major and minor (undef where there is none).
var devfile = regexp.MustCompile(`^\s*\["([^"]*)",\s*oct\((\d+)\),\s*(\d),\s*'([^']*)',\s*(undef|\d+),\s*(undef|\d+)\],`)

// The list is also the one in the mmdebstrap this host runs for a Debian base (a Perl script
// whose @devfiles is what it makes), so that a newer mmdebstrap does not drift from it unseen.
func TestMmdebstrapDevIsTheHostsMmdebstrap(t *testing.T) {
	path, err := exec.LookPath("mmdebstrap")
	if err != nil {
		t.Skip("mmdebstrap is missing: run hack/debian-deps.sh")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(src), "\nmy @devfiles = (\n")
	list, _, ok2 := strings.Cut(list, "\n);")
	if !ok || !ok2 {
		t.Fatalf("%s has no @devfiles list", path)
	}
	var got []string
	for _, line := range strings.Split(list, "\n") {
		m := devfile.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		mode, _ := strconv.ParseInt(m[2], 8, 64)
		major, _ := strconv.ParseInt(m[5], 10, 64)
		minor, _ := strconv.ParseInt(m[6], 10, 64)
		// mmdebstrap's types: 2 symlink, 3 character and 4 block device, 5 directory (tar's).
		got = append(got, describe("dev/"+m[1], m[3][0], mode, 0, 0, major, minor, m[4]))
	}
	sameLines(t, "the @devfiles of "+path, got, listed())
}

// A Debian root whose /dev mmdebstrap left empty, as it does where it cannot make device
// nodes, packs once completed into the bytes of the root and ./dev entries of the base built
// as root: as the host's root, and in a user namespace (uid 0 mapped to 100000) where mknod
// is refused, as in a --job-build-pod userns pod.
func TestAnEmptyDevPacksAsTheRootBuiltBase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the root's owners and a user namespace's mapping need root")
	}
	var ref bytes.Buffer
	tw := tar.NewWriter(&ref)
	for _, h := range baseDev(t) {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	var want bytes.Buffer
	if _, err := tarball.Pack(context.Background(), tarball.TarSource(&ref), &want, tarball.PackOptions{Compression: tarball.Plain, SourceDateEpoch: devEpoch, TempDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	for _, userns := range []bool{false, true} {
		t.Run(map[bool]string{false: "host root", true: "user namespace"}[userns], func(t *testing.T) {
			dir := namespaceDir(t)
			if err := os.Mkdir(filepath.Join(dir, "root", "dev"), 0o755); err != nil {
				t.Fatal(err)
			}
			if !userns {
				if err := completeAndPack(dir); err != nil {
					t.Fatal(err)
				}
			} else {
				runInUserNamespace(t, "complete", dir)
			}
			got, err := os.ReadFile(filepath.Join(dir, "packed.tar"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("the completed root packs as\n%s\nthe root-built base's ./dev as\n%s", entries(t, got), entries(t, want.Bytes()))
			}
		})
	}
}

// Where this process may make device nodes, mmdebstrap made /dev itself: the build leaves it
// as it is, even an empty one (a root build's /dev is never completed or changed), and
// completes it only where mknod is refused (the user namespace of TestAnEmptyDev…).
func TestADevWhereMknodWorksIsLeftAsItIs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := namespaceDir(t)
	dev := filepath.Join(dir, "root", "dev")
	if err := os.Mkdir(dev, 0o750); err != nil {
		t.Fatal(err)
	}
	r := &rootDir{dir: filepath.Join(dir, "root")}
	if err := r.completeDevWithoutMknod(dir); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(dev)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 || len(r.devices) != 0 || st.Mode().Perm() != 0o750 {
		t.Fatalf("where mknod works /dev was changed: %d entries, %d stand-ins, mode %v", len(names), len(r.devices), st.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dir, ".mknod-probe")); !os.IsNotExist(err) {
		t.Fatalf("the mknod probe was left: %v", err)
	}
}

// A Debian base that the host's mmdebstrap makes in a user namespace, where it cannot make
// device nodes and leaves /dev out, packs into the bytes of the same base made as the host's
// root, its /dev then mmdebstrap's own (null the character device 1:3). The base is
// mmdebstrap's extract variant from a file:// mirror holding no package: its setup alone, in
// about a second, with no network.
func TestADebianBaseInAUserNamespacePacksAsTheRootBuild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mmdebstrap as root and a user namespace's mapping need root")
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		t.Skip("mmdebstrap is missing: run hack/debian-deps.sh")
	}
	// One mirror for both: its URL is in the base's sources.list.
	mirror := filepath.Join(namespaceDir(t), "mirror")
	bin := filepath.Join(mirror, "dists", "bookworm", "main", "binary-"+runtime.GOARCH)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	release := "Suite: bookworm\nCodename: bookworm\nArchitectures: " + runtime.GOARCH + "\nComponents: main\n"
	if err := os.WriteFile(filepath.Join(mirror, "dists", "bookworm", "Release"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "Packages"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var packed [2][]byte
	for i, userns := range []bool{false, true} {
		dir := namespaceDir(t)
		if !userns {
			if err := debianAndPack(dir, mirror); err != nil {
				t.Fatal(err)
			}
		} else {
			runInUserNamespace(t, "debian", dir, mirrorEnv+"="+mirror)
		}
		b, err := os.ReadFile(filepath.Join(dir, "packed.tar"))
		if err != nil {
			t.Fatal(err)
		}
		packed[i] = b
	}
	if !strings.Contains(entries(t, packed[0]), "\ndev/null 3 0666 0:0 1,3\n") {
		t.Fatalf("mmdebstrap as root made no dev/null node:\n%s", entries(t, packed[0]))
	}
	if !bytes.Equal(packed[1], packed[0]) {
		t.Fatalf("made in a user namespace the base packs as\n%s\nmade as root as\n%s", entries(t, packed[1]), entries(t, packed[0]))
	}
}

// runInUserNamespace runs what (TestMain) on dir, with env added, in a user namespace of its
// own whose root is the host's uid and gid 100000, dir's owner then.
func runInUserNamespace(t *testing.T, what, dir string, env ...string) {
	t.Helper()
	const users = 100000
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A copy: the namespace's root may not reach the test binary's 0700 directory.
	bin := filepath.Join(dir, "build.test")
	if err := copyTo(self, bin); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, users, users)
	}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), inUserNamespaceEnv+"="+what+":"+dir), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: users, Size: 65536}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: users, Size: 65536}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		Pdeathsig:                  syscall.SIGKILL,
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("in a user namespace: %v: %s", err, out)
	}
}

// entries lists a tar's entries for a failure message.
func entries(t *testing.T, b []byte) string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		out = append(out, describe(h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Devmajor, h.Devminor, h.Linkname))
	}
	return strings.Join(out, "\n")
}

func copyTo(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}
