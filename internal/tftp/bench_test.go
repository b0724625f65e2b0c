package tftp

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	ptftp "github.com/pin/tftp/v3"

	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// benchBlockSize is what iPXE asks for (1432: a 1500-byte MTU less headers, with margin), so
// both servers move the same number of blocks.
const benchBlockSize = "1432"

// BenchmarkP4TFTP: curl clients fetch the iPXE binaries, or a 64 MiB file, from flarecast's
// server and from tftpd-hpa (the server a site would run instead), on loopback with the same
// block size; 1 and 20 clients at once. The two servers alternate within every run (-count),
// so the load of other work on the machine falls on both. hack/bench-p4.sh turns the output
// into ratios.
func BenchmarkP4TFTP(b *testing.B) {
	requirePeers(b, false, "curl", "in.tftpd")
	dir := bootDir(b)
	big := make([]byte, 64<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		b.Fatal(err)
	}
	ours, _ := startServer(b, Options{Dir: dir}, "127.0.0.1:0")
	theirs := startTFTPDHPA(b, dir)
	// One fetch of everything from each side first: the side that runs first would otherwise
	// pay for a cold page cache and a cold curl.
	for _, addr := range []string{ours, theirs} {
		fetchAll(b, addr, append(ipxeFiles, "big.bin"), 1)
	}
	for _, set := range []struct {
		name  string
		files []string
	}{{"ipxe", ipxeFiles}, {"64MiB", []string{"big.bin"}}} {
		var size int64
		for _, f := range set.files {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				b.Fatal(err)
			}
			size += fi.Size()
		}
		for _, clients := range []int{1, 20} {
			servers := []struct{ name, addr string }{{"flarecast", ours}, {"tftpd-hpa", theirs}}
			if os.Getenv("P4_REVERSE") != "" {
				// hack/bench-p4.sh flips the order every other round: neither side always
				// runs first, on a cold cache or a quieter machine.
				servers[0], servers[1] = servers[1], servers[0]
			}
			for _, srv := range servers {
				b.Run(fmt.Sprintf("files=%s/clients=%d/server=%s", set.name, clients, srv.name), func(b *testing.B) {
					b.SetBytes(size * int64(clients))
					for b.Loop() {
						fetchAll(b, srv.addr, set.files, clients)
					}
				})
			}
		}
	}
}

// fetchAll runs clients curl processes at once, each fetching every file, and fails on any
// error.
func fetchAll(b *testing.B, addr string, files []string, clients int) {
	args := []string{"-sS", "--tftp-blksize", benchBlockSize}
	for _, f := range files {
		args = append(args, "-o", "/dev/null", "tftp://"+addr+"/"+f)
	}
	peers.RunAtOnce(b, clients, nil, "curl", args...)
}

// startTFTPDHPA runs tftpd-hpa in the foreground on a free loopback port, chrooted to dir
// (--secure, as every guide configures it), as root so that it reads the test's files.
func startTFTPDHPA(b testing.TB, dir string) string {
	b.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	var log bytes.Buffer
	cmd := exec.Command("in.tftpd", "--foreground", "--address", addr, "--secure", "--user", "root", dir)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cl, _ := ptftp.NewClient(addr)
	cl.SetTimeout(200 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if wt, err := cl.Receive(ipxeFiles[0], "octet"); err == nil {
			var sink bytes.Buffer
			if _, err := wt.WriteTo(&sink); err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("tftpd-hpa did not answer on %s:\n%s", addr, log.String())
		}
	}
}
