package tftp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ptftp "github.com/pin/tftp/v3"
)

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestTFTPHPAFetchesIPXEBinaries: tftp-hpa's client, from a namespace over a veth, gets each
// iPXE binary of Debian's ipxe package byte for byte (no options: plain RFC 1350 lock-step).
func TestTFTPHPAFetchesIPXEBinaries(t *testing.T) {
	requirePeers(t, true, "ip", "tftp")
	ns := newNetns(t, 1500)
	boot := bootDir(t)
	addr, logs := startServer(t, Options{Dir: boot}, ns.HostIP+":0")
	host, port := splitHostPort(t, addr)
	dir := t.TempDir()
	for _, f := range ipxeFiles {
		out, err := ns.exec(t, dir, "tftp", "-m", "binary", "-v", host, port, "-c", "get", f)
		if err != nil {
			t.Fatalf("tftp get %s: %v\n%s", f, err, out)
		}
		if got, want := sha256File(t, filepath.Join(dir, f)), sha256File(t, filepath.Join(ipxeDir, f)); got != want {
			t.Errorf("%s: sha256 %s, want %s (tftp said %s)", f, got, want, out)
		}
		fi, _ := os.Stat(filepath.Join(ipxeDir, f))
		logs.WaitFor(t, `"msg"="sent file"`, `"file"="`+f+`"`, ns.NSIP, fmt.Sprintf(`"bytes"=%d`, fi.Size()))
	}
}

// TestCurlNegotiatesBlksizeAndTsize: curl's TFTP client asks for blksize and tsize; the server
// grants the block size the veth's MTU allows (a 9000-byte MTU carries 8192-byte blocks
// unfragmented), caps a larger one at MTU-32 (IPv4 20, UDP 8 and the DATA header 4 bytes: a
// 1500-byte packet; pin/tftp, used before, capped at MTU-28 and sent 1504-byte, fragmented
// packets), and answers tsize with the file's size.
func TestCurlNegotiatesBlksizeAndTsize(t *testing.T) {
	requirePeers(t, true, "ip", "curl")
	for _, tc := range []struct{ mtu, ask, want int }{
		{mtu: 9000, ask: 8192, want: 8192},
		{mtu: 1500, ask: 65464, want: 1468},
	} {
		t.Run(fmt.Sprintf("mtu=%d,blksize=%d", tc.mtu, tc.ask), func(t *testing.T) {
			ns := newNetns(t, tc.mtu)
			boot := bootDir(t)
			addr, logs := startServer(t, Options{Dir: boot}, ns.HostIP+":0")
			dir := t.TempDir()
			const f = "ipxe.efi"
			out, err := ns.exec(t, dir, "curl", "-sS", "--tftp-blksize", fmt.Sprint(tc.ask), "-o", f, "tftp://"+addr+"/"+f)
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			if got, want := sha256File(t, filepath.Join(dir, f)), sha256File(t, filepath.Join(ipxeDir, f)); got != want {
				t.Fatalf("sha256 %s, want %s", got, want)
			}
			fi, _ := os.Stat(filepath.Join(ipxeDir, f))
			logs.WaitFor(t, `"msg"="sent file"`, fmt.Sprintf(`"blksize"="%d"`, tc.want), fmt.Sprintf(`"tsize"="%d"`, fi.Size()))
		})
	}
}

// TestCurlLargeBlocksOnLoopback: the largest block size (65464) over loopback, whose MTU
// allows it, for the 1 MiB ipxe.efi; a second transfer right after the first works too.
func TestCurlLargeBlocksOnLoopback(t *testing.T) {
	requirePeers(t, false, "curl")
	boot := bootDir(t)
	addr, logs := startServer(t, Options{Dir: boot}, "127.0.0.1:0")
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			dir := t.TempDir()
			out, err := runIn(dir, "curl", "-sS", "--tftp-blksize", "65464", "-o", "x", "tftp://"+addr+"/ipxe.efi")
			if err != nil {
				t.Fatalf("curl: %v\n%s\nserver log:\n%s", err, out, logs)
			}
			if got, want := sha256File(t, filepath.Join(dir, "x")), sha256File(t, filepath.Join(ipxeDir, "ipxe.efi")); got != want {
				t.Fatalf("sha256 %s, want %s", got, want)
			}
			logs.WaitFor(t, `"msg"="sent file"`, `"blksize"="65464"`)
		})
	}
}

// TestRefusesPathsOutsideBootDir: names that leave the boot directory (.., absolute paths,
// symlinks resolving outside) get a TFTP error that says why, and a log line; names inside,
// including a symlink that stays inside, are served.
func TestRefusesPathsOutsideBootDir(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	os.WriteFile(secret, []byte("SECRET"), 0o644)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "boot.ipxe"), []byte("#!ipxe\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "efi"), 0o755)
	os.WriteFile(filepath.Join(dir, "efi", "ipxe.efi"), []byte("EFI"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "abs-link"))
	os.Symlink("../"+filepath.Base(outside)+"/secret", filepath.Join(dir, "rel-link"))
	os.Symlink("efi/ipxe.efi", filepath.Join(dir, "in-link"))
	os.Symlink(outside, filepath.Join(dir, "dir-link"))
	addr, logs := startServer(t, Options{Dir: dir}, "127.0.0.1:0")
	c, err := ptftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want, why string }{
		{"boot.ipxe", "#!ipxe\n", ""},
		{"efi/ipxe.efi", "EFI", ""},
		{"in-link", "EFI", ""},
		{"../" + filepath.Base(outside) + "/secret", "", "leaves the boot directory"},
		{"efi/../../x", "", "leaves the boot directory"},
		{secret, "", "absolute path"},
		{"/boot.ipxe", "", "absolute path"},
		{"abs-link", "", "escapes"},
		{"rel-link", "", "escapes"},
		{"dir-link/secret", "", "escapes"},
		{`efi\ipxe.efi`, "", "backslash"},
		{"efi", "", "not a regular file"},
		{"missing.efi", "", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wt, err := c.Receive(tc.name, "octet")
			var got bytes.Buffer
			if err == nil {
				_, err = wt.WriteTo(&got)
			}
			if tc.why == "" {
				if err != nil || got.String() != tc.want {
					t.Fatalf("got %q, %v; want %q", got.String(), err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("got %q, err %v; want an error saying %q", got.String(), err, tc.why)
			}
			logs.WaitFor(t, `"msg"="read request `, `"file"="`+strings.ReplaceAll(tc.name, `\`, `\\`)+`"`, tc.why)
		})
	}
}

// TestRefusesWriteRequests: tftp-hpa's put is answered with an error and nothing is written.
func TestRefusesWriteRequests(t *testing.T) {
	requirePeers(t, false, "tftp")
	dir := t.TempDir()
	addr, logs := startServer(t, Options{Dir: dir}, "127.0.0.1:0")
	host, port := splitHostPort(t, addr)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "upload"), []byte("data"), 0o644)
	out, _ := runIn(src, "tftp", "-m", "binary", "-v", host, port, "-c", "put", "upload")
	if !strings.Contains(out, "read-only server") {
		t.Errorf("tftp put said %q, want the server's refusal", out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("boot directory holds %v after a refused write", ents)
	}
	logs.WaitFor(t, `"msg"="write request refused"`, `"file"="upload"`)
}

// TestBadPacketKeepsServing: garbage datagrams are logged and dropped; the next client is served.
func TestBadPacketKeepsServing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("ok"), 0o644)
	addr, logs := startServer(t, Options{Dir: dir}, "127.0.0.1:0")
	for _, p := range [][]byte{{0, 1}, {0, 1, 'f'}, {0, 9, 'x', 0}, {0, 1, 'f', 0, 'o', 'c', 't', 'e', 't', 0, 'b', 'l', 'k', 's', 'i', 'z', 'e'}} {
		sendRaw(t, addr, p)
	}
	logs.WaitFor(t, `"msg"="bad request packet ignored"`)
	c, _ := ptftp.NewClient(addr)
	wt, err := c.Receive("f", "octet")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := wt.WriteTo(&got); err != nil || got.String() != "ok" {
		t.Fatalf("after bad packets: %q, %v", got.String(), err)
	}
}
