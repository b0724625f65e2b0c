package tftp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAtftpWindowsize: atftp (a client that speaks RFC 7440) asks for windowsize 8 over a
// veth; the server grants it and the file arrives whole.
func TestAtftpWindowsize(t *testing.T) {
	requirePeers(t, true, "ip", "atftp")
	ns := newNetns(t, 1500)
	addr, logs := startServer(t, Options{Dir: bootDir(t)}, ns.HostIP+":0")
	host, port := splitHostPort(t, addr)
	dir := t.TempDir()
	const f = "ipxe.efi"
	out, err := ns.exec(t, dir, "atftp", "--option", "windowsize 8", "--option", "blksize 1468", "--option", "tsize 0",
		"-g", "-r", f, "-l", filepath.Join(dir, f), host, port)
	if err != nil {
		t.Fatalf("atftp: %v\n%s", err, out)
	}
	if got, want := sha256File(t, filepath.Join(dir, f)), sha256File(t, filepath.Join(ipxeDir, f)); got != want {
		t.Fatalf("sha256 %s, want %s\n%s", got, want, out)
	}
	logs.WaitFor(t, `"msg"="sent file"`, `"windowsize"="8"`, `"blksize"="1468"`)
}

// windowClient is a TFTP client written for this test alone, for what no packaged client
// does on purpose: it drops chosen blocks the first time they come, so the server must send
// them again, and it fetches more than 65535 blocks, so block numbers roll over.
func windowClient(t *testing.T, server, file string, blksize, window int, drop map[int]bool) ([]byte, error) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, _ := net.ResolveUDPAddr("udp", server)
	rrq := fmt.Appendf([]byte{0, opRRQ}, "%s\x00octet\x00blksize\x00%d\x00windowsize\x00%d\x00", file, blksize, window)
	c.WriteTo(rrq, srv)
	var got bytes.Buffer
	buf := make([]byte, 70000)
	var tid *net.UDPAddr
	expect := 1 // the 64-bit number of the next block wanted
	seen := map[int]bool{}
	ack := func(n int) {
		p := []byte{0, opACK, 0, 0}
		binary.BigEndian.PutUint16(p[2:], uint16(n))
		c.WriteTo(p, tid)
	}
	inWindow := 0
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		tid = from
		switch binary.BigEndian.Uint16(buf) {
		case opOACK:
			ack(0)
			continue
		case opERROR:
			return nil, fmt.Errorf("error packet: %q", buf[4:n])
		case opDATA:
		default:
			continue
		}
		num := int(binary.BigEndian.Uint16(buf[2:]))
		if uint16(expect) != uint16(num) {
			// Out of order (after a drop): RFC 7440 has the receiver ACK the last block it
			// has in order, once per window.
			continue
		}
		if drop[expect] && !seen[expect] {
			seen[expect] = true
			continue // lost; the server's timeout sends it again
		}
		got.Write(buf[4:n])
		inWindow++
		last := n-4 < blksize
		if inWindow == window || last {
			ack(expect)
			inWindow = 0
		}
		expect++
		if last {
			return got.Bytes(), nil
		}
	}
}

func TestLostBlocksAreSentAgainAndBlockNumbersRollOver(t *testing.T) {
	dir := t.TempDir()
	// 8-byte blocks: 70000 blocks, past 65535, in a 560 KB file; its size a multiple of the
	// block size, so an empty last block ends it.
	data := make([]byte, 70000*8)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "f.bin"), data, 0o644)
	addr, logs := startServer(t, Options{Dir: dir, Timeout: 200 * time.Millisecond}, "127.0.0.1:0")

	got, err := windowClient(t, addr, "f.bin", 8, 16, map[int]bool{3: true, 40: true, 65536: true, 65540: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want the %d of the file", len(got), len(data))
	}
	line := logs.WaitFor(t, `"msg"="sent file"`, `"windowsize"="16"`, fmt.Sprintf(`"bytes"=%d`, len(data)))
	if bytes.Contains([]byte(line), []byte(`"resent"=0 `)) {
		t.Fatalf("no block was sent again, though four were dropped: %s", line)
	}
}
