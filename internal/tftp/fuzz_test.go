package tftp

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// FuzzRequestPacket: a request packet of any bytes is parsed or refused, never more; what
// is negotiated from it stays within the server's bounds.
func FuzzRequestPacket(f *testing.F) {
	for _, s := range []string{"ipxe.efi\x00octet\x00", "ipxe.efi\x00octet\x00blksize\x001432\x00tsize\x000\x00windowsize\x008\x00",
		"a\x00netascii\x00timeout\x00300\x00", "a\x00octet\x00blksize\x00-1\x00", "a\x00octet", "\x00\x00", "a\x00mail\x00",
		"a\x00octet\x00windowsize\x0099999999999999999999\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := parseRequest(p)
		if err != nil {
			return
		}
		n := negotiate(r.options, 1<<20, 1468, time.Second)
		if n.blockSize < minBlockSize || n.blockSize > 1468 || n.window < 1 || n.window > maxWindow ||
			n.timeout < time.Second || n.timeout > 255*time.Second {
			t.Fatalf("%q negotiated %+v", p, n)
		}
	})
}
