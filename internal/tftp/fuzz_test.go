package tftp

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRequestPath: whatever name a client sends, the server opens nothing but a regular file
// inside the boot directory. The directory holds symlinks that lead out (absolute, relative,
// to a directory) next to ones that stay in; a file outside holds a secret that must never be
// read back.
func FuzzRequestPath(f *testing.F) {
	base := f.TempDir()
	outside := filepath.Join(base, "outside")
	boot := filepath.Join(base, "boot")
	os.MkdirAll(outside, 0o755)
	os.MkdirAll(filepath.Join(boot, "efi"), 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("SECRET"), 0o644)
	for _, n := range []string{"undionly.kpxe", "efi/ipxe.efi", "efi/snponly.efi"} {
		os.WriteFile(filepath.Join(boot, n), []byte("IN:"+n), 0o644)
	}
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(boot, "abs"))
	os.Symlink("../outside/secret", filepath.Join(boot, "rel"))
	os.Symlink("../outside", filepath.Join(boot, "dir"))
	os.Symlink("efi/ipxe.efi", filepath.Join(boot, "in"))
	os.Symlink("../efi", filepath.Join(boot, "efi", "up"))
	root, err := os.OpenRoot(boot)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { root.Close() })
	for _, s := range []string{"undionly.kpxe", "efi/ipxe.efi", "in", "efi/up/snponly.efi", "../outside/secret",
		"/etc/passwd", "abs", "rel", "dir/secret", "efi/../../outside/secret", `efi\ipxe.efi`, "./undionly.kpxe",
		"efi//ipxe.efi", "", ".", "efi/", "\x00", "efi/ipxe.efi\x00.png"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		file, err := open(root, name)
		if err != nil {
			named := strings.Contains(err.Error(), name) || strings.Contains(err.Error(), fmt.Sprintf("%q", name))
			if !named && name != "" && len(name) <= maxNameLen {
				// Every refusal names what was asked for, so a log line explains itself.
				t.Errorf("error %q does not name %q", err, name)
			}
			return
		}
		defer file.Close()
		b, err := io.ReadAll(file)
		if err != nil {
			t.Fatalf("read %q: %v", name, err)
		}
		if !strings.HasPrefix(string(b), "IN:") {
			t.Fatalf("name %q served %q, which is not a file of the boot directory", name, b)
		}
		if !filepath.IsLocal(name) {
			t.Fatalf("name %q is not a local path but was served", name)
		}
	})
}
