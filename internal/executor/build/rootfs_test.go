package build

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// A rootfs digest is checked with its own algorithm: Validate accepts sha384 and sha512, so a
// request that gives one must build, over file:// as over http://, not fail a comparison
// with a sha256 that can never match.
func TestRootfsDigestOfAnyAlgorithmIsChecked(t *testing.T) {
	ctx := context.Background()
	p, _ := rootfsTarGz(t)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(p))))
	defer srv.Close()
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		d := alg.FromBytes(data)
		for _, url := range []string{"file://" + p, srv.URL + "/rootfs.tar.gz"} {
			if _, err := Run(ctx, generic(t.TempDir(), url, d), opts(t)); err != nil {
				t.Errorf("%s rootfs digest from %s: %v", alg, url, err)
			}
			wrong := alg.FromString("something else")
			if _, err := Run(ctx, generic(t.TempDir(), url, wrong), opts(t)); err == nil {
				t.Errorf("%s: a wrong digest from %s was accepted", alg, url)
			}
		}
	}
}
