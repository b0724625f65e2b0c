// Package buildtest gives the tests of build sources their real peers: the cached Debian base
// tar (hack/debian-base.sh), placed where a test's manager allows file:// sources, an apt
// repository on a loopback httptest server holding a package that dpkg-deb builds, and the
// cached local Debian mirror (hack/debian-mirror.sh) on such a server. It is for
// tests only and holds no logic of the build.
package buildtest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// BaseEnv names the Debian base tar a test uses instead of the repository's bin/debian-base.tar.
const BaseEnv = "FLARECAST_DEBIAN_BASE"

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

var (
	digestOnce sync.Once
	baseDigest string
	baseErr    error
)

// needRootAnd skips (or fails, see need) a test not run as root, saying why root is needed, or
// run where one of tools is missing.
func needRootAnd(t testing.TB, why string, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, why)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			need(t, tool+" is missing: run hack/debian-deps.sh")
		}
	}
}

// Base returns a file:// URL of the Debian base tar, linked (or copied) into dir, and its
// sha256 digest. Without the tar (run hack/debian-base.sh, which `make deps` does) the test is
// skipped, or fails when FLARECAST_REQUIRE_PEERS is set. Build sources need root (chroot).
func Base(t testing.TB, dir string) (url, digest string) {
	t.Helper()
	needRootAnd(t, "build sources need root (chroot, device nodes)", "unshare", "chroot", "dpkg-deb")
	real := BaseTar(t)
	digestOnce.Do(func() { baseDigest, baseErr = sha256File(real) })
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	dst := filepath.Join(dir, "debian-base.tar")
	if err := os.Link(real, dst); err != nil {
		if err := copyFile(real, dst); err != nil {
			t.Fatal(err)
		}
	}
	return "file://" + dst, baseDigest
}

// BaseTar returns the path of the Debian base tar (hack/debian-base.sh builds it with
// mmdebstrap as root), for a test that reads it; without it the test is skipped, or fails when
// FLARECAST_REQUIRE_PEERS is set.
func BaseTar(t testing.TB) string {
	t.Helper()
	src := os.Getenv(BaseEnv)
	if src == "" {
		src = filepath.Join(repoRoot(), "bin", "debian-base.tar")
	}
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		need(t, fmt.Sprintf("no Debian base tar at %s: run hack/debian-base.sh (make deps does)", src))
	}
	return real
}

func need(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("FLARECAST_REQUIRE_PEERS") != "" {
		t.Fatalf("%s (FLARECAST_REQUIRE_PEERS is set)", msg)
	}
	t.Skip(msg)
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Package is a package a Repo serves: Files maps paths in the installed system to content;
// Postinst, when set, is its maintainer script run after unpacking (a shell script).
type Package struct {
	Name, Version string
	Files         map[string]string
	Postinst      string
}

// Repo serves pkgs as a flat apt repository (Packages and Release at the root) on a loopback
// httptest server and returns the apt source line for it.
func Repo(t testing.TB, pkgs ...Package) string {
	t.Helper()
	dir := t.TempDir()
	var index bytes.Buffer
	for _, p := range pkgs {
		deb := debOf(t, dir, p)
		b, err := os.ReadFile(filepath.Join(dir, deb))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&index, "Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: flarecast tests <tests@flarecast.invalid>\nInstalled-Size: 1\nFilename: ./%s\nSize: %d\nSHA256: %s\nDescription: a package of the flarecast tests\n\n",
			p.Name, p.Version, deb, len(b), hex.EncodeToString(sum[:]))
	}
	packages := index.Bytes()
	sum := sha256.Sum256(packages)
	release := fmt.Sprintf("Origin: flarecast-tests\nLabel: flarecast-tests\nSuite: tests\nCodename: tests\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nSHA256:\n %s %d Packages\n",
		hex.EncodeToString(sum[:]), len(packages))
	if err := os.WriteFile(filepath.Join(dir, "Packages"), packages, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Release"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return "deb [trusted=yes] " + srv.URL + "/ ./"
}

// debOf builds p with dpkg-deb, reproducibly, into dir and returns the file's name.
func debOf(t testing.TB, dir string, p Package) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), p.Name)
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: flarecast tests <tests@flarecast.invalid>\nDescription: a package of the flarecast tests\n", p.Name, p.Version)
	files := map[string]string{"DEBIAN/control": control}
	for path, body := range p.Files {
		files[strings.TrimPrefix(path, "/")] = body
	}
	for path, body := range files {
		full := filepath.Join(tree, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p.Postinst != "" {
		if err := os.WriteFile(filepath.Join(tree, "DEBIAN", "postinst"), []byte(p.Postinst), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	name := fmt.Sprintf("%s_%s_all.deb", p.Name, p.Version)
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, filepath.Join(dir, name))
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, out)
	}
	return name
}

// BusyboxBase writes a tiny root file system, the host's static busybox as /bin/sh and a
// few directories, as a tar into dir and returns its file:// URL and digest: a base a shell
// can run in, for tests of the build's steps that need no packages.
func BusyboxBase(t testing.TB, dir string) (url, digest string) {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, "build sources need root (chroot)")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		need(t, "busybox is missing: run hack/debian-deps.sh (busybox-static)")
	}
	if out, err := exec.Command("file", "-L", bb).CombinedOutput(); err == nil && !bytes.Contains(out, []byte("statically linked")) {
		need(t, bb+" is not statically linked: install busybox-static")
	}
	body, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, d := range []string{"./", "bin/", "etc/", "proc/", "tmp/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))})
	tw.Write(body)
	for _, l := range []string{"sh", "echo", "test", "cat"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + l, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	release := "ID=busybox\n"
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(release))})
	tw.Write([]byte(release))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "busybox-base.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	return "file://" + p, "sha256:" + hex.EncodeToString(sum[:])
}

// MirrorEnv names the local Debian mirror directory a test uses instead of the repository's
// bin/debian-mirror.
const MirrorEnv = "FLARECAST_DEBIAN_MIRROR"

// MirrorSuite is the one suite the local mirror holds, for amd64 and main only.
const MirrorSuite = "bookworm"

// Mirror serves the local Debian mirror (hack/debian-mirror.sh: bookworm's signed InRelease,
// its Packages index and the .debs of mmdebstrap's minbase) on a loopback httptest server and
// returns its URL, a debian base's mirror. apt checks the InRelease against the host's
// debian-archive-keyring, as it does deb.debian.org's. Without the mirror, mmdebstrap or the
// keyring the test is skipped, or fails when FLARECAST_REQUIRE_PEERS is set.
func Mirror(t testing.TB) string {
	t.Helper()
	needRootAnd(t, "a debian base needs root (mmdebstrap, chroot)", "mmdebstrap", "unshare", "chroot")
	if _, err := os.Stat("/usr/share/keyrings/debian-archive-keyring.gpg"); err != nil {
		need(t, "no debian-archive-keyring: apt cannot check the mirror's InRelease")
	}
	src := os.Getenv(MirrorEnv)
	if src == "" {
		src = filepath.Join(repoRoot(), "bin", "debian-mirror")
	}
	if _, err := os.Stat(filepath.Join(src, "dists", MirrorSuite, "InRelease")); err != nil {
		need(t, fmt.Sprintf("no local Debian mirror at %s: run hack/debian-mirror.sh (make deps does)", src))
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	t.Cleanup(srv.Close)
	return srv.URL
}
