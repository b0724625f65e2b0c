package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A build request that is not exactly one JSON document of the known fields is refused as a
// usage error naming the file, before anything is built or written.
func TestArchiveBuildRefusesAMalformedRequest(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	valid := `{"archive":"ns/a","repository":"` + repo + `","tag":"ns.a","inputs":{"type":"Generic","arch":"amd64","rootfs":{"url":"file:///nonexistent.tar","digest":"sha256:` + strings.Repeat("0", 64) + `"}}}`
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `build me`, "invalid character"},
		{"truncated", valid[:len(valid)/2], "unexpected EOF"},
		{"an unknown field", strings.Replace(valid, `"tag"`, `"tags"`, 1), "unknown field"},
		{"two documents", valid + "\n" + valid, "more than one JSON value"},
		{"trailing bytes", valid + "}", "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, res := filepath.Join(dir, tc.name+".json"), filepath.Join(dir, tc.name+".result")
			os.WriteFile(req, []byte(tc.body), 0o644)
			_, errs, code := run(t, nil, "archive", "build", "--request", req, "--result", res)
			if code != 2 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, req) {
				t.Fatalf("exit %d, want 2; stderr %q should name %s and say %q", code, errs, req, tc.want)
			}
			if _, err := os.Stat(res); !os.IsNotExist(err) {
				t.Fatalf("a refused request left a result: %v", err)
			}
			if _, err := os.Stat(repo); !os.IsNotExist(err) {
				t.Fatalf("a refused request created the repository: %v", err)
			}
		})
	}
}
