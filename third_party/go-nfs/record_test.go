package nfs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	nfs "github.com/willscott/go-nfs"
	"github.com/willscott/go-nfs/helpers"
	"github.com/willscott/go-nfs/helpers/memfs"
)

// The calls of these tests are made byte by byte, as a hostile host would send them: any
// host that reaches the NFS port can, and an install server is reached by every node.

const (
	nfsProg   = 100003
	mountProg = 100005
	// accept_stat (RFC 5531 9).
	acceptSuccess     = 0
	acceptProcUnavail = 3
	acceptGarbageArgs = 4
	// A length far past any record: without a bound, the XDR decoder allocates it.
	hugeLength = 0x7ffffff0
)

// xdrBytes is an XDR encoding built field by field.
type xdrBytes struct{ bytes.Buffer }

func (b *xdrBytes) u32(v uint32) *xdrBytes {
	binary.Write(&b.Buffer, binary.BigEndian, v)
	return b
}

func (b *xdrBytes) u64(v uint64) *xdrBytes {
	binary.Write(&b.Buffer, binary.BigEndian, v)
	return b
}

func (b *xdrBytes) opaque(v []byte) *xdrBytes {
	b.u32(uint32(len(v)))
	b.Write(v)
	b.Write(make([]byte, (4-len(v)%4)%4))
	return b
}

// claim is a length field of n followed by only a few bytes.
func (b *xdrBytes) claim(n uint32) *xdrBytes {
	return b.u32(n).u32(0x61626364)
}

// noAttrs is a sattr3 that sets nothing: six set_it discriminants, all false.
func (b *xdrBytes) noAttrs() *xdrBytes {
	for i := 0; i < 6; i++ {
		b.u32(0)
	}
	return b
}

// rpcCall is a call's record: its marker, the header with cred (an AUTH_NONE credential
// when nil, else AUTH_UNIX with that body) and AUTH_NONE verifier, and args.
func rpcCall(xid, prog, proc uint32, cred, args []byte) []byte {
	var b xdrBytes
	b.u32(xid).u32(0).u32(2).u32(prog).u32(3).u32(proc)
	if cred == nil {
		b.u32(0).u32(0)
	} else {
		b.u32(1).Write(cred)
	}
	b.u32(0).u32(0)
	b.Write(args)
	var rec xdrBytes
	rec.u32(1<<31 | uint32(b.Len()))
	rec.Write(b.Bytes())
	return rec.Bytes()
}

// startServer serves go-nfs over an in-memory file system holding /f (4 bytes).
func startServer(t *testing.T) string {
	t.Helper()
	return startServerWith(t, func(h nfs.Handler) nfs.Handler { return h })
}

// startServerWith serves it through wrap's handler.
func startServerWith(t *testing.T, wrap func(nfs.Handler) nfs.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mem := memfs.New()
	f, err := mem.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("data"))
	f.Close()
	go nfs.Serve(ln, wrap(helpers.NewCachingHandler(helpers.NewNullAuthHandler(mem), 1024)))
	return ln.Addr().String()
}

type client struct {
	t   *testing.T
	c   net.Conn
	xid uint32
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &client{t: t, c: c}
}

// call sends a call and returns its reply's accept_stat and results; a connection the
// server closed instead is io.EOF.
func (c *client) call(prog, proc uint32, cred, args []byte) (uint32, []byte, error) {
	c.xid++
	if _, err := c.c.Write(rpcCall(c.xid, prog, proc, cred, args)); err != nil {
		return 0, nil, err
	}
	return c.reply()
}

func (c *client) reply() (uint32, []byte, error) {
	var marker [4]byte
	if _, err := io.ReadFull(c.c, marker[:]); err != nil {
		return 0, nil, err
	}
	rec := make([]byte, binary.BigEndian.Uint32(marker[:])&^(1<<31))
	if _, err := io.ReadFull(c.c, rec); err != nil {
		return 0, nil, err
	}
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(rec[i:]) }
	if len(rec) < 24 || u32(0) != c.xid || u32(4) != 1 || u32(8) != 0 {
		c.t.Fatalf("reply %x is not an accepted reply to call %d", rec, c.xid)
	}
	stat := 20 + int(u32(16)+3)&^3 // after the verifier
	return u32(stat), rec[stat+4:], nil
}

// ok calls and wants NFS3_OK (MNT3_OK) results, which it returns after their status.
func (c *client) ok(prog, proc uint32, args []byte) []byte {
	c.t.Helper()
	stat, res, err := c.call(prog, proc, nil, args)
	if err != nil || stat != acceptSuccess || len(res) < 4 || binary.BigEndian.Uint32(res) != 0 {
		c.t.Fatalf("call %d.%d: accept_stat %d, results %x, %v; want success and status 0", prog, proc, stat, res, err)
	}
	return res[4:]
}

// handleIn reads the handle at the start of res (an opaque, or a post_op_fh3 if followed).
func handleIn(t *testing.T, res []byte, followed bool) []byte {
	t.Helper()
	if followed {
		if binary.BigEndian.Uint32(res) != 1 {
			t.Fatalf("results %x have no handle", res)
		}
		res = res[4:]
	}
	n := binary.BigEndian.Uint32(res)
	if n == 0 || n > 64 || int(n) > len(res)-4 {
		t.Fatalf("results %x have no handle", res)
	}
	return res[4 : 4+n]
}

// mount answers the export's root handle and the handle of /f.
func (c *client) mount() (root, file []byte) {
	c.t.Helper()
	root = handleIn(c.t, c.ok(mountProg, 1, new(xdrBytes).opaque([]byte("/")).Bytes()), false)
	file = handleIn(c.t, c.ok(nfsProg, 3, new(xdrBytes).opaque(root).opaque([]byte("f")).Bytes()), false)
	return root, file
}

// allocated is what the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A variable-length argument that claims 2 GiB is answered GARBAGE_ARGS without the server
// allocating the claim, and the same call well-formed still works, on the same connection.
func TestHugeLengthsAreRefusedWithoutAllocatingThem(t *testing.T) {
	addr := startServer(t)
	for _, tc := range []struct {
		name       string
		prog, proc uint32
		// bad and wellFormed are the call's arguments, given the handles of / and /f.
		bad, wellFormed func(root, file []byte) []byte
		want            func(t *testing.T, c *client, root, file, res []byte)
	}{{
		name: "file handle (GETATTR)", prog: nfsProg, proc: 1,
		bad:        func(_, _ []byte) []byte { return new(xdrBytes).claim(hugeLength).Bytes() },
		wellFormed: func(_, file []byte) []byte { return new(xdrBytes).opaque(file).Bytes() },
		want: func(t *testing.T, _ *client, _, _, res []byte) {
			if size := binary.BigEndian.Uint64(res[20:]); size != 4 {
				t.Errorf("GETATTR of /f: size %d, want 4", size)
			}
		},
	}, {
		name: "file name (LOOKUP)", prog: nfsProg, proc: 3,
		bad: func(root, _ []byte) []byte { return new(xdrBytes).opaque(root).claim(hugeLength).Bytes() },
		wellFormed: func(root, _ []byte) []byte {
			return new(xdrBytes).opaque(root).opaque([]byte("f")).Bytes()
		},
		want: func(t *testing.T, _ *client, _, file, res []byte) {
			if h := handleIn(t, res, false); !bytes.Equal(h, file) {
				t.Errorf("LOOKUP of f: handle %x, want %x", h, file)
			}
		},
	}, {
		name: "symlink target (SYMLINK)", prog: nfsProg, proc: 10,
		bad: func(root, _ []byte) []byte {
			return new(xdrBytes).opaque(root).opaque([]byte("bad")).noAttrs().claim(hugeLength).Bytes()
		},
		wellFormed: func(root, _ []byte) []byte {
			return new(xdrBytes).opaque(root).opaque([]byte("l")).noAttrs().opaque([]byte("/f")).Bytes()
		},
		want: func(t *testing.T, c *client, _, _, res []byte) {
			link := handleIn(t, res, true)
			res = c.ok(nfsProg, 5, new(xdrBytes).opaque(link).Bytes())
			if binary.BigEndian.Uint32(res) != 1 {
				t.Fatalf("READLINK results %x have no attributes", res)
			}
			if target := res[4+84:]; !bytes.Equal(target, new(xdrBytes).opaque([]byte("/f")).Bytes()) {
				t.Errorf("READLINK of l: %x, want /f", target)
			}
		},
	}, {
		name: "write data (WRITE)", prog: nfsProg, proc: 7,
		bad: func(_, file []byte) []byte {
			return new(xdrBytes).opaque(file).u64(0).u32(4).u32(2).claim(hugeLength).Bytes()
		},
		wellFormed: func(_, file []byte) []byte {
			return new(xdrBytes).opaque(file).u64(0).u32(4).u32(2).opaque([]byte("DATA")).Bytes()
		},
		want: func(t *testing.T, c *client, _, file, _ []byte) {
			res := c.ok(nfsProg, 6, new(xdrBytes).opaque(file).u64(0).u32(4).Bytes())
			if !bytes.HasSuffix(res, new(xdrBytes).opaque([]byte("DATA")).Bytes()) {
				t.Errorf("READ of /f after WRITE: %x, want DATA", res)
			}
		},
	}, {
		name: "directory path (MOUNT)", prog: mountProg, proc: 1,
		bad:        func(_, _ []byte) []byte { return new(xdrBytes).claim(hugeLength).Bytes() },
		wellFormed: func(_, _ []byte) []byte { return new(xdrBytes).opaque([]byte("/")).Bytes() },
		want: func(t *testing.T, _ *client, root, _, res []byte) {
			if h := handleIn(t, res, false); !bytes.Equal(h, root) {
				t.Errorf("MOUNT of /: handle %x, want %x", h, root)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			root, file := c.mount()
			var stat uint32
			var err error
			d := allocated(func() { stat, _, err = c.call(tc.prog, tc.proc, nil, tc.bad(root, file)) })
			if d > 1<<20 {
				t.Errorf("refusing a length of %d allocated %d bytes", uint32(hugeLength), d)
			}
			if err != nil || stat != acceptGarbageArgs {
				t.Fatalf("a length of %d: accept_stat %d, %v; want %d (GARBAGE_ARGS)", uint32(hugeLength), stat, err, acceptGarbageArgs)
			}
			tc.want(t, c, root, file, c.ok(tc.prog, tc.proc, tc.wellFormed(root, file)))
		})
	}
}

// A file handle is at most NFS3_FHSIZE (64) bytes: a longer one is GARBAGE_ARGS even when
// the record holds it.
func TestAHandleLongerThanNFS3FHSizeIsGarbage(t *testing.T) {
	c := dial(t, startServer(t))
	_, file := c.mount()
	long := append(append([]byte{}, file...), make([]byte, 65-len(file))...)
	if stat, _, err := c.call(nfsProg, 1, nil, new(xdrBytes).opaque(long).Bytes()); err != nil || stat != acceptGarbageArgs {
		t.Errorf("GETATTR of a 65-byte handle: accept_stat %d, %v; want %d (GARBAGE_ARGS)", stat, err, acceptGarbageArgs)
	}
	c.ok(nfsProg, 1, new(xdrBytes).opaque(file).Bytes())
}

// oddHandles makes every handle 19 bytes long, so that XDR pads it with one byte.
type oddHandles struct{ nfs.Handler }

func (h oddHandles) ToHandle(fs billy.Filesystem, p []string) []byte {
	return append(h.Handler.ToHandle(fs, p), "odd"...)
}

func (h oddHandles) FromHandle(fh []byte) (billy.Filesystem, []string, error) {
	if !bytes.HasSuffix(fh, []byte("odd")) {
		return nil, nil, errors.New("not an odd handle")
	}
	return h.Handler.FromHandle(fh[:len(fh)-3])
}

// A handle's XDR padding is read with it, not as the next argument: go-nfs-client's
// ReadOpaque, which upstream used for handles, left it, and ACCESS read it as its mask.
func TestAHandlesPaddingIsNotReadAsTheNextArgument(t *testing.T) {
	c := dial(t, startServerWith(t, func(h nfs.Handler) nfs.Handler { return oddHandles{h} }))
	_, file := c.mount()
	if len(file)%4 == 0 {
		t.Fatalf("handle %x has no padding", file)
	}
	res := c.ok(nfsProg, 4, new(xdrBytes).opaque(file).u32(0x1f).Bytes())
	if got := binary.BigEndian.Uint32(res[len(res)-4:]); got != 0x1f {
		t.Errorf("ACCESS 0x1f of a %d-byte handle answered 0x%x, want 0x1f", len(file), got)
	}
}

// An RPC record is held in memory before it is decoded, so its length is bounded (a WRITE of
// FSINFO's wtmax and its headers): a longer one closes the connection at once, and one the
// sender claims and does not send costs memory only as its bytes arrive.
func TestTheRecordLengthIsBounded(t *testing.T) {
	addr := startServer(t)
	null := rpcCall(1, nfsProg, 0, nil, nil)

	c := dial(t, addr)
	huge := append(binary.BigEndian.AppendUint32(nil, 1<<31|hugeLength), null[4:]...)
	var err error
	d := allocated(func() {
		if _, err = c.c.Write(huge); err == nil {
			_, err = io.ReadAll(c.c)
		}
	})
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a record of %d bytes: %v, want the connection closed", uint32(hugeLength), err)
	}
	if d > 1<<20 {
		t.Errorf("refusing a record of %d bytes allocated %d bytes", uint32(hugeLength), d)
	}

	// A record of the largest size, of which only the header arrives: the server waits for
	// the rest without holding the size.
	c = dial(t, addr)
	short := append(binary.BigEndian.AppendUint32(nil, 1<<31|(nfs.MaxWrite+4096)), null[4:]...)
	d = allocated(func() {
		c.c.Write(short)
		c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.c.Read(make([]byte, 1))
	})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a record cut short: %v, want the server waiting for the rest", err)
	}
	if d > 256<<10 {
		t.Errorf("waiting for a record of %d bytes allocated %d bytes", nfs.MaxWrite+4096, d)
	}

	// A WRITE of wtmax bytes fits in a record.
	c = dial(t, addr)
	_, file := c.mount()
	data := bytes.Repeat([]byte("w"), nfs.MaxWrite)
	res := c.ok(nfsProg, 7, new(xdrBytes).opaque(file).u64(0).u32(nfs.MaxWrite).u32(2).opaque(data).Bytes())
	if n := binary.BigEndian.Uint32(res[len(res)-16:]); n != nfs.MaxWrite {
		t.Errorf("a WRITE of %d bytes wrote %d", nfs.MaxWrite, n)
	}
}

// The credential's body is at most MAX_AUTH_BYTES (400): a call claiming more is refused (its
// header does not decode, the connection is closed) without allocating the claim.
func TestAHugeCredentialIsRefusedWithoutAllocatingIt(t *testing.T) {
	c := dial(t, startServer(t))
	var err error
	d := allocated(func() {
		_, _, err = c.call(nfsProg, 0, new(xdrBytes).claim(hugeLength).Bytes(), nil)
	})
	if err != io.EOF {
		t.Errorf("a credential of %d bytes: %v, want the connection closed", uint32(hugeLength), err)
	}
	if d > 1<<20 {
		t.Errorf("refusing a credential of %d bytes allocated %d bytes", uint32(hugeLength), d)
	}
	c = dial(t, startServer(t))
	cred := new(xdrBytes).u32(7).opaque([]byte("n1")).u32(0).u32(0).u32(0).Bytes()
	if stat, _, err := c.call(nfsProg, 0, cred, nil); err != nil || stat != acceptSuccess {
		t.Errorf("NULL with an AUTH_UNIX credential: accept_stat %d, %v", stat, err)
	}
}

// FSINFO advertises the sizes the server takes and gives: a client sends no WRITE longer than
// wtmax, which the record's bound must hold.
func TestFSInfoAdvertisesTheBounds(t *testing.T) {
	c := dial(t, startServer(t))
	root, _ := c.mount()
	res := c.ok(nfsProg, 19, new(xdrBytes).opaque(root).Bytes())
	if binary.BigEndian.Uint32(res) != 1 {
		t.Fatalf("FSINFO results %x have no attributes", res)
	}
	res = res[4+84:]
	for i, want := range []uint32{nfs.MaxRead, nfs.MaxRead, 4096, nfs.MaxWrite, nfs.MaxWrite} {
		if got := binary.BigEndian.Uint32(res[4*i:]); got != want {
			t.Errorf("FSINFO field %d (rtmax, rtpref, rtmult, wtmax, wtpref) is %d, want %d", i, got, want)
		}
	}
	if nfs.MaxWrite != 1<<20 || nfs.MaxRead != 1<<20 {
		t.Errorf("MaxWrite %d and MaxRead %d: want 1 MiB, the most the Linux client uses", nfs.MaxWrite, nfs.MaxRead)
	}
}

// A procedure the server does not have is PROC_UNAVAIL (3) on the wire.
func TestAnUnknownProcedureIsProcUnavail(t *testing.T) {
	c := dial(t, startServer(t))
	if stat, _, err := c.call(mountProg, 5, nil, nil); err != nil || stat != acceptProcUnavail {
		t.Errorf("MOUNT's EXPORT: accept_stat %d, %v; want %d (PROC_UNAVAIL)", stat, err, acceptProcUnavail)
	}
}

// A READ that asks for more than MaxRead gets MaxRead bytes, and end of file only if they
// reach it: a client told EOF early would take a longer file for a shorter one.
func TestAReadLargerThanMaxReadIsNotEndOfFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mem := memfs.New()
	f, err := mem.Create("/f")
	if err != nil {
		t.Fatal(err)
	}
	size := nfs.MaxRead + nfs.MaxRead/2
	f.Write(bytes.Repeat([]byte{'x'}, size))
	f.Close()
	go nfs.Serve(ln, helpers.NewCachingHandler(helpers.NewNullAuthHandler(mem), 1024))
	c := dial(t, ln.Addr().String())
	_, file := c.mount()
	for _, read := range []struct {
		offset     uint64
		count, eof uint32
	}{{0, nfs.MaxRead, 0}, {nfs.MaxRead, uint32(size - nfs.MaxRead), 1}} {
		res := c.ok(nfsProg, 6, new(xdrBytes).opaque(file).u64(read.offset).u32(2*nfs.MaxRead).Bytes())
		if binary.BigEndian.Uint32(res) != 1 {
			t.Fatalf("READ results %x have no attributes", res[:8])
		}
		res = res[4+84:]
		if count, eof := binary.BigEndian.Uint32(res), binary.BigEndian.Uint32(res[4:]); count != read.count || eof != read.eof {
			t.Errorf("READ of %d bytes at %d of a file of %d: count %d, eof %d; want count %d, eof %d", 2*nfs.MaxRead, read.offset, size, count, eof, read.count, read.eof)
		}
	}
}

// A WRITE's count is the number of bytes of its data (RFC 1813 3.3.7): one whose count is
// more or less than its data is GARBAGE_ARGS, as Linux nfsd answers it, and writes nothing
// (upstream wrote the shorter of the two); the connection serves the next call.
func TestAWriteWhoseCountIsNotItsDataIsGarbage(t *testing.T) {
	c := dial(t, startServer(t))
	_, file := c.mount()
	for _, count := range []uint32{2, 8, 0} {
		stat, _, err := c.call(nfsProg, 7, nil, new(xdrBytes).opaque(file).u64(0).u32(count).u32(2).opaque([]byte("WXYZ")).Bytes())
		if err != nil || stat != acceptGarbageArgs {
			t.Errorf("a WRITE of count %d with 4 bytes of data: accept_stat %d, %v; want %d (GARBAGE_ARGS)", count, stat, err, acceptGarbageArgs)
		}
		res := c.ok(nfsProg, 6, new(xdrBytes).opaque(file).u64(0).u32(16).Bytes())
		if !bytes.HasSuffix(res, new(xdrBytes).u32(4).u32(1).opaque([]byte("data")).Bytes()) {
			t.Fatalf("READ of /f after a WRITE of count %d: %x, want its 4 bytes \"data\" unchanged", count, res)
		}
	}
}

// refusingChange is a file system's Change whose Chmod fails with err.
type refusingChange struct {
	billy.Change
	err error
}

func (c refusingChange) Chmod(string, os.FileMode) error { return c.err }

// refusingHandler hands out refusingChange.
type refusingHandler struct {
	nfs.Handler
	err error
}

func (h refusingHandler) Change(fs billy.Filesystem) billy.Change {
	return refusingChange{h.Handler.Change(fs), h.err}
}

// Nothing in go-nfs makes an AuthError or RPCMismatchError, but a handler's file system may
// refuse a call with one (a SETATTR's chmod here: SETATTR passes its file system's errors on
// as they are): the reply is MSG_DENIED's
// rejected_reply as RFC 5531 9 has it, reject_stat (AUTH_ERROR 1, RPC_MISMATCH 0) and then the
// auth_stat or the mismatch_info, each in XDR's byte order, and nothing more. Upstream sent
// the ResponseCode (7, 6) as reject_stat and the rest little endian.
func TestDeniedRepliesAreRejectedReplies(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want []uint32 // after xid: REPLY, MSG_DENIED, reject_stat, its body
	}{
		{"AUTH_ERROR", &nfs.AuthError{AuthStat: nfs.AuthStatTooWeak}, []uint32{1, 1, 1, 5}},
		{"RPC_MISMATCH", &nfs.RPCMismatchError{Low: 2, High: 2}, []uint32{1, 1, 0, 2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, startServerWith(t, func(h nfs.Handler) nfs.Handler { return refusingHandler{h, tc.err} }))
			_, file := c.mount()
			// SETATTR: mode 04711 (set_mode true), nothing else set, no guard.
			args := new(xdrBytes).opaque(file).u32(1).u32(0o4711).u32(0).u32(0).u32(0).u32(0).u32(0).u32(0)
			c.xid++
			if _, err := c.c.Write(rpcCall(c.xid, nfsProg, 2, nil, args.Bytes())); err != nil {
				t.Fatal(err)
			}
			var marker [4]byte
			if _, err := io.ReadFull(c.c, marker[:]); err != nil {
				t.Fatal(err)
			}
			rec := make([]byte, binary.BigEndian.Uint32(marker[:])&^(1<<31))
			if _, err := io.ReadFull(c.c, rec); err != nil {
				t.Fatal(err)
			}
			want := new(xdrBytes).u32(c.xid)
			for _, v := range tc.want {
				want.u32(v)
			}
			if !bytes.Equal(rec, want.Bytes()) {
				t.Errorf("the reply %x, want %x", rec, want.Bytes())
			}
			// The connection serves the next call.
			c.ok(nfsProg, 1, new(xdrBytes).opaque(file).Bytes())
		})
	}
}
