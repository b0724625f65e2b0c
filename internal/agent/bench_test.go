package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/tarball"
)

// BenchmarkSectionInstallAgainstCurlZstdTar compares the agent's section step (HTTP, sha256
// of the compressed bytes, zstd, the hardened extractor with its diffID, and the checks)
// with what one would run by hand to install a section and verify it:
//
//	curl -sS URL | tee >(sha256sum >sum) | zstd -dc | tar -x -C DIR
//
// both reading the same blob from one local HTTP server into fresh directories of one file
// system, alternately. The section is the Debian base of hack/debian-base.sh when
// FLARECAST_DEBIAN_BASE or bin/debian-base.tar names it (700 MB of tar), else /usr packed.
// It reports each side's MB/s of tar extracted and their ratio.
//
//	go test -run '^$' -bench SectionInstall -benchtime 3x ./internal/agent/
func BenchmarkSectionInstallAgainstCurlZstdTar(b *testing.B) {
	for _, tool := range []string{"curl", "zstd", "tar", "sha256sum", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is missing: run hack/debian-deps.sh", tool)
		}
	}
	ctx := context.Background()
	work := b.TempDir()
	blobPath := filepath.Join(work, "section.tar.zst")
	blob, err := os.Create(blobPath)
	if err != nil {
		b.Fatal(err)
	}
	src := tarball.DirSource("/usr")
	base := os.Getenv("FLARECAST_DEBIAN_BASE")
	if base == "" {
		base = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if f, err := os.Open(base); err == nil {
		defer f.Close()
		src = tarball.TarSource(f)
	}
	st, err := tarball.Pack(ctx, src, blob, tarball.PackOptions{TempDir: work})
	if err != nil {
		b.Fatal(err)
	}
	blob.Close()
	data, err := os.ReadFile(blobPath)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sec := installplan.Section{Name: "archive", Digest: "sha256:" + hex.EncodeToString(sum[:]), DiffID: st.DiffID, Size: int64(len(data))}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(blobPath)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+sec.Digest+`"`)
		http.ServeContent(w, r, "", time.Time{}, f)
	}))
	defer srv.Close()
	sec.URL = srv.URL + "/blob"
	b.Logf("section: %d MB compressed, %d MB of tar", sec.Size/1e6, st.TarBytes/1e6)

	agentSide := func(dir string) {
		in := &install{cfg: Config{HTTP: srv.Client(), Target: dir}, log: discard()}
		if err := in.section(ctx, sec, 1<<40, func(int64) {}); err != nil {
			b.Fatal(err)
		}
	}
	curlSide := func(dir string) {
		script := `set -o pipefail; curl -sS -f "$1" | tee >(sha256sum >"$2") | zstd -dc | tar -x -C "$3"`
		if out, err := exec.Command("bash", "-c", script, "bash", sec.URL, filepath.Join(work, "sum"), dir).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		// Wait for the process substitution to have written the sum, then check it.
		for i := 0; i < 100; i++ {
			if got, _ := os.ReadFile(filepath.Join(work, "sum")); strings.HasPrefix(string(got), hex.EncodeToString(sum[:])) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.Fatal("sha256sum disagrees with the blob's digest")
	}
	var agentTime, curlTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sides := []struct {
			run func(string)
			t   *time.Duration
		}{{agentSide, &agentTime}, {curlSide, &curlTime}}
		if i%2 == 1 {
			sides[0], sides[1] = sides[1], sides[0]
		}
		for _, s := range sides {
			b.StopTimer()
			dir, err := os.MkdirTemp(work, "x")
			if err != nil {
				b.Fatal(err)
			}
			exec.Command("sync").Run()
			b.StartTimer()
			start := time.Now()
			s.run(dir)
			*s.t += time.Since(start)
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	}
	b.StopTimer()
	mb := float64(st.TarBytes) * float64(b.N) / 1e6
	b.ReportMetric(mb/agentTime.Seconds(), "agent-MB/s")
	b.ReportMetric(mb/curlTime.Seconds(), "curl|zstd|tar-MB/s")
	b.ReportMetric(curlTime.Seconds()/agentTime.Seconds(), "ratio")
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
