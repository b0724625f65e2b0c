package tarball

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchTar is the tar P1b packs: FLARECAST_BENCH_TAR, or the project's Debian base.
func benchTar(b *testing.B) string {
	path := os.Getenv("FLARECAST_BENCH_TAR")
	if path == "" {
		path = filepath.Join("..", "..", "bin", "debian-base.tar")
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("no tar to pack (hack/debian-base.sh builds bin/debian-base.tar): %v", err)
	}
	// zstd skips a symbolic link given by name, and bin/debian-base.tar is one.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		b.Fatal(err)
	}
	return real
}

// BenchmarkP1bFloor says how close the streamed pack can come to `zstd -T0 -3` at today's
// digest. Three sides in one run, alternating: the whole streamed pack of the tar file (what
// `archive create --from-tar FILE` runs, its output hashed as the store would); the floor, the
// same frame sink given the tar from memory (the pinned encoder on every core, the tar's
// sha256 for the diff_id and the output's for the blob: nothing of reading, parsing or
// ordering entries, nor writing a file); and `zstd -T0 -3 -o` of the file. floor-speed-x is zstd's wall over the
// floor's: no work around the encoder can lift pack-speed-x above it.
func BenchmarkP1bFloor(b *testing.B) {
	if _, err := exec.LookPath("zstd"); err != nil {
		b.Skip("zstd not installed")
	}
	path := benchTar(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	pack := func() (run, error) {
		return measureSelf(func() (int64, error) {
			f, err := os.Open(path)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			out := &counter{w: io.Discard, h: sha256.New()} // as a repository ingester hashes a blob
			_, err = Pack(context.Background(), TarSource(f), out, PackOptions{Stream: true})
			return out.n, err
		})
	}
	floor := func() (run, error) {
		return measureSelf(func() (int64, error) {
			out := &counter{w: io.Discard, h: sha256.New()} // as a repository ingester hashes a blob
			s, err := newFrameSink(out, DefaultLevel)
			if err != nil {
				return 0, err
			}
			if _, err := s.Write(data); err != nil {
				return 0, err
			}
			return out.n, s.Close()
		})
	}
	out := filepath.Join(b.TempDir(), "out.zst")
	zstd := func() (run, error) {
		// As hack/bench-tar.sh runs it, into a file: a little faster than into a pipe.
		r, err := shell(`zstd -T0 -3 -q -f "$1" -o "$2"`, path, out)
		if fi, serr := os.Stat(out); err == nil && serr == nil {
			r.bytes = fi.Size()
		}
		return r, err
	}
	sides := []func() (run, error){pack, floor, zstd}
	runs := make([][]run, len(sides))
	b.ResetTimer()
	for i := -1; i < b.N; i++ {
		for k := range sides {
			side := (k + max(i, 0)) % len(sides) // who goes first turns round
			r, err := sides[side]()
			if err != nil {
				b.Fatal(err)
			}
			if i >= 0 {
				runs[side] = append(runs[side], r)
			}
		}
	}
	p, f, z := medianRun(runs[0]), medianRun(runs[1]), medianRun(runs[2])
	// The floor compresses the file's bytes, not the normalized tar, so its output differs a
	// little from the pack's; more than a percent and it measured other work.
	if ratio := float64(f.bytes) / float64(p.bytes); ratio < 0.99 || ratio > 1.01 {
		b.Fatalf("the floor wrote %d bytes against the pack's %d: not the same work", f.bytes, p.bytes)
	}
	mb := float64(len(data)) / 1e6
	b.ReportMetric(mb/p.wall.Seconds(), "pack-MB/s")
	b.ReportMetric(mb/f.wall.Seconds(), "floor-MB/s")
	b.ReportMetric(mb/z.wall.Seconds(), "zstd-MB/s")
	b.ReportMetric(z.wall.Seconds()/p.wall.Seconds(), "pack-speed-x")
	b.ReportMetric(z.wall.Seconds()/f.wall.Seconds(), "floor-speed-x")
	b.ReportMetric(p.cpu.Seconds(), "pack-cpu-s")
	b.ReportMetric(f.cpu.Seconds(), "floor-cpu-s")
	b.ReportMetric(z.cpu.Seconds(), "zstd-cpu-s")
	b.ReportMetric(0, "ns/op")
}
