package httpboot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

func nodeScripts(server string) Scripts {
	return ScriptsFunc(func(_ context.Context, key string) (Script, error) {
		if key != "n1" {
			return Script{}, ErrUnknownNode
		}
		s := exampleScript()
		s.ServerURL = server
		return s, nil
	})
}

// TestCurlFetchesScriptAndBootFiles: curl gets n1's script (with its token and the server's
// URL), the kernel and the initramfs byte for byte; an unknown node, a missing file and a
// symlink out of the boot directory are refused, and the token appears in no log line.
func TestCurlFetchesScriptAndBootFiles(t *testing.T) {
	netlab.RequireTools(t, "curl")
	boot := t.TempDir()
	kernel := make([]byte, 3<<20)
	copy(kernel, "MZ kernel")
	os.WriteFile(filepath.Join(boot, "vmlinuz"), kernel, 0o644)
	os.WriteFile(filepath.Join(boot, "initramfs.img"), []byte("070701 newc"), 0o644)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("SECRET"), 0o644)
	os.Symlink(secret, filepath.Join(boot, "leak"))
	var scripts ScriptsFunc
	srv, logs := startHandler(t, Options{BootDir: boot, Scripts: ScriptsFunc(func(ctx context.Context, k string) (Script, error) {
		return scripts(ctx, k)
	})})
	scripts = nodeScripts(srv.URL).(ScriptsFunc)
	dir := t.TempDir()

	out, err := curl(t, dir, "-f", srv.URL+"/ipxe/n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#!ipxe\n", "flarecast.token=tok-2f9c1e7ab0d4", "flarecast.server=" + srv.URL, "kernel " + srv.URL + "/boot/vmlinuz "} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"vmlinuz", "initramfs.img"} {
		if _, err := curl(t, dir, "-f", "-o", f, srv.URL+"/boot/"+f); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, f))
		want, _ := os.ReadFile(filepath.Join(boot, f))
		if sha256Hex(got) != sha256Hex(want) {
			t.Errorf("%s: got %d bytes that differ from the %d served", f, len(got), len(want))
		}
	}
	for path, code := range map[string]string{"/ipxe/stranger": "404", "/boot/missing": "404", "/boot/leak": "403", "/boot/%2e%2e/%2e%2e/etc/passwd": "403", "/boot/..%2f..%2fetc%2fpasswd": "403"} {
		out, _ := curl(t, dir, "-o", "/dev/null", "-w", "%{http_code}", "--path-as-is", srv.URL+path)
		if out != code {
			t.Errorf("GET %s: HTTP %s, want %s", path, out, code)
		}
	}
	if n := logs.Count(`"msg"="served boot script"`, `"node"="n1"`); n != 1 {
		t.Errorf("%d log lines for the served script, want 1:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "tok-2f9c1e7ab0d4") {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

// TestCurlBlobRangesAndValidators: blobs of a local store by digest, with byte ranges, the
// digest as ETag, If-Range (matching: a range; stale: the whole blob), 416 past the end,
// 404 for an unknown digest and 400 for a malformed one.
func TestCurlBlobRangesAndValidators(t *testing.T) {
	netlab.RequireTools(t, "curl")
	store, err := repository.OpenLocal(t.TempDir(), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, desc := randomBlob(t, store, 1<<20)
	blobs, err := NewRepositoryBlobs(store, "", logsDiscard())
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := startHandler(t, Options{Blobs: blobs})
	url := srv.URL + "/blobs/" + desc.Digest.String()
	dir := t.TempDir()
	etag := `"` + desc.Digest.String() + `"`

	for _, tc := range []struct {
		name     string
		args     []string
		code     string
		from, to int // expected body: data[from:to]
	}{
		{"whole", nil, "200", 0, len(data)},
		{"first 100 bytes", []string{"-r", "0-99"}, "206", 0, 100},
		{"middle", []string{"-r", "1000-1999"}, "206", 1000, 2000},
		{"tail from offset", []string{"-r", "1048000-"}, "206", 1048000, len(data)},
		{"last 10 bytes", []string{"-r", "-10"}, "206", len(data) - 10, len(data)},
		{"if-range matching", []string{"-r", "10-19", "-H", "If-Range: " + etag}, "206", 10, 20},
		{"if-range stale", []string{"-r", "10-19", "-H", `If-Range: "sha256:0000"`}, "200", 0, len(data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out")
			os.Remove(out)
			code, err := curl(t, dir, append(tc.args, "-o", out, "-w", "%{http_code}", url)...)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(out)
			if code != tc.code || sha256Hex(got) != sha256Hex(data[tc.from:tc.to]) {
				t.Fatalf("HTTP %s with %d bytes; want %s with bytes %d..%d", code, len(got), tc.code, tc.from, tc.to)
			}
		})
	}
	headers, err := curl(t, dir, "-I", url)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(headers, "Etag: "+etag) || !strings.Contains(headers, "Accept-Ranges: bytes") {
		t.Errorf("HEAD lacks the digest ETag or Accept-Ranges:\n%s", headers)
	}
	for _, tc := range []struct{ name, path, args, code, body string }{
		{"range past the end", desc.Digest.String(), "-r 2000000-2000100", "416", ""},
		{"unknown digest", "sha256:" + strings.Repeat("ab", 32), "", "404", "no blob sha256:abab"},
		{"malformed digest", "sha256:xyz", "", "400", "malformed digest"},
		{"not a digest", "vmlinuz", "", "400", "malformed digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(strings.Fields(tc.args), "-o", filepath.Join(dir, "body"), "-w", "%{http_code}", srv.URL+"/blobs/"+tc.path)
			code, _ := curl(t, dir, args...)
			body, _ := os.ReadFile(filepath.Join(dir, "body"))
			if code != tc.code || !strings.Contains(string(body), tc.body) {
				t.Fatalf("HTTP %s %q; want %s saying %q", code, body, tc.code, tc.body)
			}
		})
	}
}

// TestCurlResumesCutDownload: a download cut by curl's own time limit is finished with
// `curl -C -` (a Range from the partial file's size) and matches the blob's sha256.
func TestCurlResumesCutDownload(t *testing.T) {
	netlab.RequireTools(t, "curl")
	store, _ := repository.OpenLocal(t.TempDir(), repository.Options{})
	data, desc := randomBlob(t, store, 16<<20)
	blobs, _ := NewRepositoryBlobs(store, "", logsDiscard())
	srv, _ := startHandler(t, Options{Blobs: blobs})
	url := srv.URL + "/blobs/" + desc.Digest.String()
	dir := t.TempDir()
	out := filepath.Join(dir, "blob")
	// 8 MiB/s for 1 s: about half the blob, then curl gives up (exit 28).
	if _, err := curl(t, dir, "--limit-rate", "8M", "-m", "1", "-o", out, url); err == nil {
		t.Fatal("the throttled download was not cut; the test proves nothing")
	}
	part, _ := os.Stat(out)
	if part == nil || part.Size() == 0 || part.Size() >= int64(len(data)) {
		t.Fatalf("cut download left %v bytes; want part of %d", part, len(data))
	}
	code, err := curl(t, dir, "-C", "-", "-o", out, "-w", "%{http_code}", url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if code != "206" || sha256Hex(got) != desc.Digest.Encoded() {
		t.Fatalf("resume: HTTP %s, sha256 %s; want 206 and %s (cut at %d of %d)", code, sha256Hex(got), desc.Digest.Encoded(), part.Size(), len(data))
	}
}
