package tarball

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchTree is the tree P1 packs: FLARECAST_BENCH_TREE, or the Go toolchain (about 240 MiB of
// real files, the same on every machine of the project).
func benchTree(b *testing.B) string {
	if d := os.Getenv("FLARECAST_BENCH_TREE"); d != "" {
		return d
	}
	return runtime.GOROOT()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// sideBySide runs ours and theirs alternately, once each untimed to warm the page cache and
// then b.N times each, and reports both medians and their ratio (theirs/ours: above 1 means we
// are faster).
func sideBySide(b *testing.B, ours, theirs func() (int64, error)) (time.Duration, time.Duration, int64, int64) {
	b.Helper()
	var to, tt []time.Duration
	var so, st int64
	for i := -1; i < b.N; i++ {
		for _, side := range []int{i & 1, 1 - i&1} { // alternate who goes first
			start := time.Now()
			var n int64
			var err error
			if side == 0 {
				n, err = ours()
			} else {
				n, err = theirs()
			}
			d := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if i < 0 {
				continue
			}
			if side == 0 {
				to, so = append(to, d), n
			} else {
				tt, st = append(tt, d), n
			}
		}
	}
	return median(to), median(tt), so, st
}

func shell(script string, args ...string) (int64, error) {
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	var cw countWriter
	cmd.Stdout = &cw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", script, err, stderr.String())
	}
	return cw.n, nil
}

// BenchmarkP1Pack packs the tree and, in the same run, `tar -cf - . | zstd -T0 -3` does too.
// Metrics: speed-x (their time / ours), size-x (our size / theirs).
func BenchmarkP1Pack(b *testing.B) {
	if _, err := exec.LookPath("zstd"); err != nil {
		b.Skip("zstd not installed")
	}
	tree := benchTree(b)
	var tarBytes int64
	ours := func() (int64, error) {
		var cw countWriter
		st, err := Pack(context.Background(), DirSource(tree), &cw, PackOptions{})
		tarBytes = st.TarBytes
		return cw.n, err
	}
	theirs := func() (int64, error) { return shell(`tar -C "$1" -cf - . | zstd -T0 -3 -q`, tree) }
	b.ResetTimer()
	to, tt, so, st := sideBySide(b, ours, theirs)
	b.ReportMetric(float64(tarBytes)/to.Seconds()/1e6, "ours-MB/s")
	b.ReportMetric(float64(tarBytes)/tt.Seconds()/1e6, "theirs-MB/s")
	b.ReportMetric(tt.Seconds()/to.Seconds(), "speed-x")
	b.ReportMetric(float64(so)/float64(st), "size-x")
	b.ReportMetric(float64(so), "ours-bytes")
	b.ReportMetric(float64(st), "theirs-bytes")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkP1Extract extracts our archive of the tree, and `zstd -d | tar -x` extracts the same
// file, each into a fresh directory.
func BenchmarkP1Extract(b *testing.B) {
	if _, err := exec.LookPath("zstd"); err != nil {
		b.Skip("zstd not installed")
	}
	tree := benchTree(b)
	work := b.TempDir()
	archive := filepath.Join(work, "tree.tar.zst")
	f, err := os.Create(archive)
	if err != nil {
		b.Fatal(err)
	}
	st, err := Pack(context.Background(), DirSource(tree), f, PackOptions{})
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	run := 0
	fresh := func() string {
		run++
		d := filepath.Join(work, fmt.Sprint("out", run))
		os.RemoveAll(filepath.Join(work, fmt.Sprint("out", run-2))) // keep removal cost out of the next run
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	ours := func() (int64, error) {
		in, err := os.Open(archive)
		if err != nil {
			return 0, err
		}
		defer in.Close()
		_, err = Extract(context.Background(), in, fresh(), ExtractOptions{})
		return 0, err
	}
	theirs := func() (int64, error) {
		return shell(`zstd -dc "$1" | tar -xpf - --xattrs --xattrs-include='*' --numeric-owner -C "$2"`, archive, fresh())
	}
	b.ResetTimer()
	to, tt, _, _ := sideBySide(b, ours, theirs)
	b.ReportMetric(float64(st.TarBytes)/to.Seconds()/1e6, "ours-MB/s")
	b.ReportMetric(float64(st.TarBytes)/tt.Seconds()/1e6, "theirs-MB/s")
	b.ReportMetric(tt.Seconds()/to.Seconds(), "speed-x")
	b.ReportMetric(0, "ns/op")
}

var _ = io.Discard
