package tarball

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
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

// run is one timed side of a comparison.
type run struct {
	bytes     int64
	wall, cpu time.Duration
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// selfCPU is the user+system time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureSelf times f, in-process.
func measureSelf(f func() (int64, error)) (run, error) {
	c, w := selfCPU(), time.Now()
	n, err := f()
	return run{bytes: n, wall: time.Since(w), cpu: selfCPU() - c}, err
}

// sideBySide runs ours and theirs alternately, once each untimed to warm the page cache and
// then b.N times each (who goes first alternates), and returns the median run of each.
func sideBySide(b *testing.B, ours, theirs func() (run, error)) (run, run) {
	b.Helper()
	var o, t []run
	sides := [2]func() (run, error){ours, theirs}
	for i := -1; i < b.N; i++ {
		order := [2]int{0, 1}
		if i%2 != 0 {
			order = [2]int{1, 0}
		}
		for _, side := range order {
			r, err := sides[side]()
			if err != nil {
				b.Fatal(err)
			}
			switch {
			case i < 0:
			case side == 0:
				o = append(o, r)
			default:
				t = append(t, r)
			}
		}
	}
	return medianRun(o), medianRun(t)
}

// medianRun takes the median wall time and, separately, the median CPU time.
func medianRun(rs []run) run {
	walls, cpus := make([]time.Duration, len(rs)), make([]time.Duration, len(rs))
	for i, r := range rs {
		walls[i], cpus[i] = r.wall, r.cpu
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return run{bytes: rs[0].bytes, wall: walls[len(rs)/2], cpu: cpus[len(rs)/2]}
}

// shell runs a pipeline, counting its output and the CPU of every process in it (the shell
// waits for them all, so its rusage includes theirs).
func shell(script string, args ...string) (run, error) {
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	var cw countWriter
	cmd.Stdout = &cw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	w := time.Now()
	if err := cmd.Run(); err != nil {
		return run{}, fmt.Errorf("%s: %w: %s", script, err, stderr.String())
	}
	ps := cmd.ProcessState
	return run{bytes: cw.n, wall: time.Since(w), cpu: ps.UserTime() + ps.SystemTime()}, nil
}

func report(b *testing.B, tarBytes int64, ours, theirs run) {
	b.ReportMetric(float64(tarBytes)/ours.wall.Seconds()/1e6, "ours-MB/s")
	b.ReportMetric(float64(tarBytes)/theirs.wall.Seconds()/1e6, "theirs-MB/s")
	b.ReportMetric(theirs.wall.Seconds()/ours.wall.Seconds(), "speed-x")
	b.ReportMetric(theirs.cpu.Seconds()/ours.cpu.Seconds(), "cpu-x")
	b.ReportMetric(ours.cpu.Seconds(), "ours-cpu-s")
	b.ReportMetric(theirs.cpu.Seconds(), "theirs-cpu-s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkP1Pack packs the tree and, in the same run, `tar -cf - . | zstd -T0 -3` does too.
// Metrics: speed-x (their time / ours), size-x (our size / theirs).
func BenchmarkP1Pack(b *testing.B) {
	if _, err := exec.LookPath("zstd"); err != nil {
		b.Skip("zstd not installed")
	}
	tree := benchTree(b)
	var tarBytes int64
	ours := func() (run, error) {
		return measureSelf(func() (int64, error) {
			var cw countWriter
			st, err := Pack(context.Background(), DirSource(tree), &cw, PackOptions{})
			tarBytes = st.TarBytes
			return cw.n, err
		})
	}
	theirs := func() (run, error) { return shell(`tar -C "$1" -cf - . | zstd -T0 -3 -q`, tree) }
	b.ResetTimer()
	o, t := sideBySide(b, ours, theirs)
	report(b, tarBytes, o, t)
	b.ReportMetric(float64(o.bytes)/float64(t.bytes), "size-x")
	b.ReportMetric(float64(o.bytes), "ours-bytes")
	b.ReportMetric(float64(t.bytes), "theirs-bytes")
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
	runs := 0
	fresh := func() string {
		runs++
		d := filepath.Join(work, fmt.Sprint("out", runs))
		os.RemoveAll(filepath.Join(work, fmt.Sprint("out", runs-1))) // removed before the clock starts
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	ours := func() (run, error) {
		dir := fresh()
		return measureSelf(func() (int64, error) {
			in, err := os.Open(archive)
			if err != nil {
				return 0, err
			}
			defer in.Close()
			_, err = Extract(context.Background(), in, dir, ExtractOptions{})
			return 0, err
		})
	}
	theirs := func() (run, error) {
		return shell(`zstd -dc "$1" | tar -xpf - --xattrs --xattrs-include='*' --numeric-owner -C "$2"`, archive, fresh())
	}
	b.ResetTimer()
	o, t := sideBySide(b, ours, theirs)
	report(b, st.TarBytes, o, t)
}
