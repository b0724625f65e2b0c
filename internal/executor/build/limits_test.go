package build

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
)

// wantFailure checks that err is a Failure of reason whose message says want.
func wantFailure(t *testing.T, err error, reason, want string) *Failure {
	t.Helper()
	f, ok := AsFailure(err)
	if !ok || f.Reason != reason || !strings.Contains(f.Message, want) {
		t.Fatalf("error %v (failure %+v), want %s saying %q", err, f, reason, want)
	}
	return f
}

// emptyDir fails unless dir holds nothing: what a build wrote besides the repository goes
// with it.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) > 0 {
		t.Fatalf("left in the work directory: %v", left)
	}
}

func TestFileSourcesOutsideTheAllowedDirectoriesRevealNothing(t *testing.T) {
	ctx := context.Background()
	allowed := t.TempDir()
	p, d := rootfsTarGz(t)
	inside := filepath.Join(allowed, "rootfs.tar.gz")
	if err := os.Rename(p, inside); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.tar")
	os.WriteFile(outside, []byte("not for you"), 0o644)
	os.Symlink(outside, filepath.Join(allowed, "link.tar"))
	req := func(url string, allow ...string) *Request {
		r := generic(t.TempDir(), url, d)
		r.Limits.AllowFileSources = allow
		return r
	}
	if _, err := Run(ctx, req("file://"+inside, allowed), opts(t)); err != nil {
		t.Fatalf("a rootfs in the allowed directory: %v", err)
	}
	// A file that exists outside, one that does not, a link out of the allowed directory, a
	// path that climbs out of it, a directory, and any file at all when none is allowed:
	// the same message, but for the URL.
	var messages []string
	for _, tc := range []struct {
		url   string
		allow []string
	}{
		{"file://" + outside, []string{allowed}},
		{"file://" + outside + ".missing", []string{allowed}},
		{"file://" + filepath.Join(allowed, "link.tar"), []string{allowed}},
		{"file://" + allowed + "/../" + filepath.Base(filepath.Dir(outside)) + "/secret.tar", []string{allowed}},
		{"file://" + allowed, []string{allowed}},
		{"file://" + inside, nil},
	} {
		_, err := Run(ctx, req(tc.url, tc.allow...), opts(t))
		f := wantFailure(t, err, ReasonSourceNotAllowed, "not a readable regular file under the directories this manager allows")
		messages = append(messages, strings.Replace(f.Message, strings.TrimPrefix(tc.url, "file://"), "PATH", 1))
	}
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Fatalf("messages differ:\n%s", strings.Join(messages, "\n"))
		}
	}
	// A mismatch names the digest expected, never the content's.
	wrong := digest.FromString("a guess")
	_, err := Run(ctx, req("file://"+inside, allowed), opts(t))
	if err != nil {
		t.Fatal(err)
	}
	r := req("file://"+inside, allowed)
	r.Inputs.Rootfs.Digest = wrong
	_, err = Run(ctx, r, opts(t))
	f := wantFailure(t, err, ReasonDigestMismatch, "spec.source.rootfs.digest says "+string(wrong))
	if strings.Contains(f.Message, d.Encoded()) {
		t.Fatalf("the mismatch names the content's digest: %s", f.Message)
	}
}

func TestHTTPSourcesMayBeLimitedToAllowedHosts(t *testing.T) {
	p, d := rootfsTarGz(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(p))))
	defer srv.Close()
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL+"/rootfs.tar.gz", http.StatusFound))
	defer redirect.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r := generic(t.TempDir(), srv.URL+"/rootfs.tar.gz", d)
	r.Limits.AllowHosts = []string{host}
	if _, err := Run(context.Background(), r, opts(t)); err != nil {
		t.Fatalf("an allowed host: %v", err)
	}
	r.Limits.AllowHosts = []string{"example.org"}
	_, err := Run(context.Background(), r, opts(t))
	wantFailure(t, err, ReasonSourceNotAllowed, "host "+host+" is not one this manager allows")
	// A redirect to a host not listed is refused too.
	r = generic(t.TempDir(), redirect.URL+"/x", d)
	r.Limits.AllowHosts = []string{strings.TrimPrefix(redirect.URL, "http://")}
	_, err = Run(context.Background(), r, opts(t))
	wantFailure(t, err, ReasonSourceNotAllowed, "redirected: host "+host)
}

// hostile serves what a slow, silent or endless server sends.
func hostile(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL + "/rootfs.tar"
}

func TestDownloadsAreBoundedInTimeAndSize(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	lim := Limits{FirstByteTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
		DownloadTimeout: 1500 * time.Millisecond, MaxSize: 1 << 20}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		reason  string
		want    string
		bytes   int64 // how far it got, at least
	}{
		{"no headers", func(w http.ResponseWriter, r *http.Request) { stall(w, r) },
			ReasonFirstByteTimeout, "the server sent no response headers for 300ms, after 0 B", 0},
		{"one chunk then silence", func(w http.ResponseWriter, r *http.Request) {
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			stall(w, r)
		}, ReasonIdleTimeout, "the server sent nothing for 300ms, after 1000 B", 1000},
		{"a byte every 50ms, for ever", func(w http.ResponseWriter, r *http.Request) {
			for r.Context().Err() == nil {
				w.Write([]byte{0})
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}, ReasonDownloadTimeout, "the download took longer than its downloadTimeout for 1.5s", 10},
		{"an endless body", func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 64<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}, ReasonSourceTooLarge, "the body goes past the 1.0 MiB (1048576 bytes) maxSize", 1<<20 + 1},
		{"a declared size over maxSize", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(10<<20))
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			stall(w, r)
		}, ReasonSourceTooLarge, "the server declares 10.0 MiB (10485760 bytes), more than the 1.0 MiB (1048576 bytes) maxSize allows; nothing was written", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := generic(t.TempDir(), hostile(t, tc.handler), digest.FromString("x"))
			r.Limits = lim
			o := opts(t)
			start := time.Now()
			_, err := Run(context.Background(), r, o)
			f := wantFailure(t, err, tc.reason, tc.want)
			if f.Bytes < tc.bytes {
				t.Fatalf("reported %d bytes read, want at least %d", f.Bytes, tc.bytes)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("the bound held the build %s", took)
			}
			emptyDir(t, o.WorkDir)
		})
	}
}

func TestABuildIsBoundedInTime(t *testing.T) {
	r := generic(t.TempDir(), hostile(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }), digest.FromString("x"))
	r.Limits = Limits{BuildTimeout: 300 * time.Millisecond}
	_, err := Run(context.Background(), r, opts(t))
	wantFailure(t, err, ReasonBuildTimeout, "the build took longer than its buildTimeout for 300ms")
}

// rawHeader is a ustar header, for what archive/tar will not write (a PAX sparse header).
func rawHeader(name string, typ byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], "00000000000\x00")
	h[156] = typ
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

func padded(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

func paxRecord(k, v string) string {
	for n := len(k) + len(v) + 3; ; {
		s := fmt.Sprintf("%d %s=%s\n", n, k, v)
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

// sparseBomb is a 3.5 KB tar holding one PAX 1.0 sparse file of 1 TiB.
func sparseBomb() []byte {
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "big") + paxRecord("GNU.sparse.realsize", fmt.Sprint(int64(1)<<40))
	body := append(padded([]byte("1\n0\n1\n")), 'x')
	var b bytes.Buffer
	b.Write(rawHeader("PaxHeaders/big", 'x', int64(len(recs))))
	b.Write(padded([]byte(recs)))
	b.Write(rawHeader("GNUSparseFile.0/big", '0', int64(len(body))))
	b.Write(padded(body))
	b.Write(make([]byte, 1024))
	return b.Bytes()
}

// zstdBomb is a tar.zst of files of size zero bytes each, n bytes in all: a few KB that
// unpack to n. One large file is stopped by its declared size; many small ones by the count
// of the stream.
func zstdBomb(t *testing.T, n, size int64) []byte {
	var b bytes.Buffer
	enc, _ := zstd.NewWriter(&b)
	tw := tar.NewWriter(enc)
	zero := make([]byte, size)
	for i := int64(0); i*size < n; i++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("zeros-%d", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
		tw.Write(zero)
	}
	tw.Close()
	enc.Close()
	return b.Bytes()
}

func TestBombsAreStoppedAtMaxSize(t *testing.T) {
	for name, data := range map[string][]byte{"sparse": sparseBomb(), "zstd, one file": zstdBomb(t, 256<<20, 256<<20),
		"zstd, many files": zstdBomb(t, 64<<20, 64<<10)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "bomb.tar")
			os.WriteFile(p, data, 0o644)
			repo := t.TempDir()
			r := generic(repo, "file://"+p, digest.FromBytes(data))
			r.Limits.MaxSize = 4 << 20
			o := opts(t)
			_, err := Run(context.Background(), r, o)
			wantFailure(t, err, ReasonSourceTooLarge, "unpacks to more than the 4.0 MiB (4194304 bytes) maxSize allows")
			emptyDir(t, o.WorkDir)
			store, _ := repository.Open(context.Background(), repo, repository.Options{})
			if l, _ := store.List(context.Background()); len(l) != 0 {
				t.Fatalf("a bomb left archives %v", l)
			}
		})
	}
}

func TestSecretContentEntersTheInputsDigestOnlyKeyed(t *testing.T) {
	secret := []byte("hunter2")
	in := func(data []byte) Inputs {
		return Inputs{Type: "Configured", Base: digest.FromString("b"), Configuration: &Configuration{
			Scripts: []Script{{Name: "s.sh", Stage: "FirstBoot", Data: data, FromSecret: true}}}}
	}
	a, b := in(secret), in([]byte("hunter3"))
	k1, k2 := []byte("key one"), []byte("key two")
	if a.Digest(k1) == b.Digest(k1) {
		t.Fatal("other Secret content, same digest")
	}
	if a.Digest(k1) == a.Digest(k2) {
		t.Fatal("the key does not enter the digest")
	}
	// Without the key a guess cannot be tested: the digest is not that of the content in
	// the clear, nor keyed with an empty key.
	plain := a
	plain.Configuration = &Configuration{Scripts: []Script{{Name: "s.sh", Stage: "FirstBoot", Data: secret, FromSecret: true}}}
	if a.Digest(k1) == a.Digest(nil) || a.Digest(k1) == plainDigest(plain) {
		t.Fatal("the digest can be recomputed without the key")
	}
	if a.Configuration.Scripts[0].MAC != "" || string(a.Configuration.Scripts[0].Data) != string(secret) {
		t.Fatal("Digest changed its inputs")
	}
	// A request with Secret content and no inputs digest is refused: a build cannot key it.
	r := &Request{Archive: "ns/a", Repository: t.TempDir(), Tag: "ns.a", Inputs: a}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "must carry its inputsDigest") {
		t.Fatalf("Validate: %v", err)
	}
}

// plainDigest is the digest as it was before Secret content was keyed: a hash of it in the
// clear.
func plainDigest(in Inputs) digest.Digest {
	c := *in.Configuration
	c.Scripts = append([]Script(nil), c.Scripts...)
	c.Scripts[0].FromSecret = false
	in.Configuration = &c
	return in.Digest(nil)
}

// fullListener is a loopback port whose accept queue is full: it listens with a backlog of
// none and never accepts, and the test fills the one slot the kernel keeps. Linux then drops
// the SYN of the next connection, which hangs in connect as with a server that does not
// answer, without sending anything off the machine.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // the queue is full: this connection hung
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("this kernel accepted every connection to a listener that never accepts")
	return ""
}

func TestAServerThatNeverAcceptsEndsInConnectTimeout(t *testing.T) {
	addr := fullListener(t)
	r := generic(t.TempDir(), "http://"+addr+"/rootfs.tar", digest.FromString("x"))
	r.Limits = Limits{ConnectTimeout: 300 * time.Millisecond}
	o := opts(t)
	start := time.Now()
	_, err := Run(context.Background(), r, o)
	wantFailure(t, err, ReasonConnectTimeout, "no connection (TCP, then TLS) within the 300ms connectTimeout")
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the bound held the build %s", took)
	}
	emptyDir(t, o.WorkDir)
}
