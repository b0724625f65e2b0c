package build

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
	"github.com/flarecast/flarecast/internal/tarball"
)

// completeDevEnv names the directory a re-run of the test binary completes and packs in a
// user namespace (TestMain), as a build in a user-namespaced pod does.
const completeDevEnv = "FLARECAST_TEST_COMPLETE_DEV"

func TestMain(m *testing.M) {
	if dir := os.Getenv(completeDevEnv); dir != "" {
		if err := completeAndPack(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const devEpoch = 1700000000

// completeAndPack completes the /dev of dir/root and packs the root, its stand-ins as the
// nodes they stand for, into dir/packed.tar. It refuses to run where device nodes can be
// made: what it shows is the build where they cannot.
func completeAndPack(dir string) error {
	root := filepath.Join(dir, "root")
	probe := filepath.Join(dir, "mknod-probe")
	if err := unix.Mknod(probe, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
		os.Remove(probe)
		return errors.New("mknod works here: not a user namespace")
	}
	r := &rootDir{dir: root}
	if err := r.completeDev(); err != nil {
		return err
	}
	return packTo(r, filepath.Join(dir, "packed.tar"))
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
			// Under /tmp, not t.TempDir (0700 parents of the host's root): the namespace's
			// root is another user.
			dir, err := os.MkdirTemp("/tmp", "flarecast-dev-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			root := filepath.Join(dir, "root")
			for _, d := range []string{root, filepath.Join(root, "dev")} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "packed.tar")
			if !userns {
				r := &rootDir{dir: root}
				if err := r.completeDev(); err != nil {
					t.Fatal(err)
				}
				if err := packTo(r, out); err != nil {
					t.Fatal(err)
				}
			} else {
				runInUserNamespace(t, dir)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("the completed root packs as\n%s\nthe root-built base's ./dev as\n%s", entries(t, got), entries(t, want.Bytes()))
			}
		})
	}
}

// runInUserNamespace runs completeAndPack on dir in a user namespace of its own whose root is
// the host's uid and gid 100000, dir's owner then.
func runInUserNamespace(t *testing.T, dir string) {
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
	cmd.Env = append(os.Environ(), completeDevEnv+"="+dir)
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
