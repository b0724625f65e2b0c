package archive_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/archive/flar"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// Benchmarks keep their generic archives in $FLARECAST_BENCH_DIR (default
// $TMPDIR/flarecast-bench): creating the 2 GiB one takes a while, so it is made once and
// reused by later runs. Remove the directory to start over.

func benchDir(b *testing.B) string {
	dir := os.Getenv("FLARECAST_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "flarecast-bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	return dir
}

func bigMiB() int {
	if v, err := strconv.Atoi(os.Getenv("FLARECAST_BENCH_BIG_MIB")); err == nil && v > 0 {
		return v
	}
	return 2048
}

// benchGeneric opens (creating on first use) a store holding a generic archive named
// "generic" of about mib MiB of incompressible files.
func benchGeneric(b *testing.B, mib int) (repository.Store, digest.Digest) {
	b.Helper()
	ctx := context.Background()
	root := filepath.Join(benchDir(b), fmt.Sprintf("store-%dMiB", mib))
	store, err := repository.OpenLocal(root, repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if d, err := store.Resolve(ctx, "generic"); err == nil {
		return store, d.Digest
	}
	tree := filepath.Join(benchDir(b), fmt.Sprintf("tree-%dMiB", mib))
	writeIncompressibleTree(b, tree, mib)
	defer os.RemoveAll(tree)
	created := time.Unix(1700000000, 0).UTC()
	b.Logf("creating the %d MiB generic archive once in %s", mib, root)
	desc, _, err := archive.Create(ctx, store, tarball.DirSource(tree), archive.CreateOptions{Name: "generic", Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		b.Fatal(err)
	}
	return store, desc.Digest
}

// writeIncompressibleTree writes mib MiB of random bytes as 1 MiB files in 64 directories,
// plus a few small configuration-like files: zstd cannot shrink it, so sizes are honest.
func writeIncompressibleTree(b *testing.B, dir string, mib int) {
	b.Helper()
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		sub := filepath.Join(dir, "usr", "lib", fmt.Sprintf("d%02d", i%64))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte("ID=bench\n"), 0o644); err != nil {
		b.Fatal(err)
	}
}

// configuration of about 40 KiB: a realistic handful of files and scripts, different at each
// iteration so every derive writes new blobs.
func benchConfiguration(i int, nonce uint64) *archive.Configuration {
	c := &archive.Configuration{DoubleReboot: i%2 == 0}
	for f := 0; f < 20; f++ {
		data := make([]byte, 2<<10)
		for j := range data {
			data[j] = byte('a' + (i+f+j)%26)
		}
		c.Files = append(c.Files, archive.File{Path: fmt.Sprintf("/etc/app/conf%02d", f), Data: data})
	}
	for s := 0; s < 5; s++ {
		c.Scripts = append(c.Scripts, archive.Script{Name: fmt.Sprintf("%02d-step.sh", s), Order: s, Stage: archive.StageBeforeServices,
			Data: []byte(fmt.Sprintf("#!/bin/sh\necho step %d of iteration %d of run %x\n", s, i, nonce))})
	}
	return c
}

// deriveOptions gives the i-th derive of a benchmark run; nonce differs from one run to the
// next so that every derive writes its blobs instead of finding them in the store already.
func deriveOptions(typ archive.Type, i int, nonce uint64, base digest.Digest) archive.DeriveOptions {
	opts := archive.DeriveOptions{Base: "generic", Name: "derived", Type: typ, Configuration: benchConfiguration(i, nonce)}
	if typ == archive.Deployable {
		var nodes []archive.Node
		var names []string
		for n := 1; n <= 32; n++ {
			nodes = append(nodes, archive.Node{Name: fmt.Sprintf("n%02d", n), ID: n, Group: "web", Addresses: []string{fmt.Sprintf("10.0.0.%d", n)}})
			names = append(names, fmt.Sprintf("n%02d", n))
		}
		opts.Cluster = &archive.ClusterSection{Nodes: nodes, Files: []archive.File{{Path: "/etc/hosts", Data: []byte(fmt.Sprintf("# iteration %d of run %x\n", i, nonce))}}}
		opts.SoftwareLoad = &archive.SoftwareLoadDescriptor{Cluster: "bench", Domain: 1, Groups: []archive.GroupLoad{{Name: "web", Archive: base, Nodes: names}}}
		opts.NodesGroup = "web"
	}
	return opts
}

// BenchmarkDeriveCostFollowsTheConfiguration derives configured and deployable archives from
// a 20 MiB and a 2 GiB generic archive side by side, and reports the time ratio (goal: ≤ 1.1)
// and the bytes each derive adds to the store.
func BenchmarkDeriveCostFollowsTheConfiguration(b *testing.B) {
	ctx := context.Background()
	small, smallDigest := benchGeneric(b, 20)
	big, bigDigest := benchGeneric(b, bigMiB())
	for _, typ := range []archive.Type{archive.Configured, archive.Deployable} {
		b.Run(string(typ), func(b *testing.B) {
			var tSmall, tBig time.Duration
			nonce := rand.Uint64()
			var written int64
			derive := func(store repository.Store, base digest.Digest, i int) time.Duration {
				t0 := time.Now()
				res, err := archive.Derive(ctx, store, deriveOptions(typ, i, nonce, base))
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				written += res.Written.Bytes
				return d
			}
			for i := 0; i < b.N; i++ {
				// Alternate which store goes first so neither always meets a warm cache.
				if i%2 == 0 {
					tSmall += derive(small, smallDigest, i)
					tBig += derive(big, bigDigest, i)
				} else {
					tBig += derive(big, bigDigest, i)
					tSmall += derive(small, smallDigest, i)
				}
			}
			b.ReportMetric(float64(tSmall.Nanoseconds())/float64(b.N), "ns/derive-20MiB")
			b.ReportMetric(float64(tBig.Nanoseconds())/float64(b.N), fmt.Sprintf("ns/derive-%dMiB", bigMiB()))
			b.ReportMetric(float64(tBig)/float64(tSmall), "ratio-big/small")
			b.ReportMetric(float64(written)/float64(2*b.N), "B-written/derive")
		})
	}
}

// BenchmarkExportImportAgainstCp exports the big generic archive to a file, imports it into a
// fresh store (verifying every digest and diffID), and copies the same file with cp (and with
// tee into sha256sum, a copy checked by hand), in one run. Each reports MB/s of the export
// file's size.
func BenchmarkExportImportAgainstCp(b *testing.B) {
	ctx := context.Background()
	store, _ := benchGeneric(b, bigMiB())
	work := b.TempDir()
	file := filepath.Join(work, "generic.flar")
	export := func() {
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := flar.Export(ctx, store, w, []string{"generic"}, flar.ExportOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	export()
	fi, err := os.Stat(file)
	if err != nil {
		b.Fatal(err)
	}
	size := fi.Size()
	b.Run("cp", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			if out, err := exec.Command("cp", file, filepath.Join(work, "copy")).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v %s", err, out)
			}
		}
	})
	b.Run("cp+sync", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			dst := filepath.Join(work, "copy")
			if out, err := exec.Command("sh", "-c", `cp "$1" "$2" && sync "$2"`, "sh", file, dst).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v %s", err, out)
			}
		}
	})
	// What a person would run to copy the file and check it by hand: coreutils, one pass.
	b.Run("tee+sha256sum", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			dst := filepath.Join(work, "copy")
			if out, err := exec.Command("sh", "-c", `tee "$2" < "$1" | sha256sum > /dev/null && sync "$2"`, "sh", file, dst).CombinedOutput(); err != nil {
				b.Fatalf("tee: %v %s", err, out)
			}
		}
	})
	b.Run("export", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			export()
		}
	})
	b.Run("import", func(b *testing.B) {
		b.SetBytes(size)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dst := filepath.Join(work, "imported")
			os.RemoveAll(dst)
			s, err := repository.OpenLocal(dst, repository.Options{})
			if err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := flar.Import(ctx, s, bufio.NewReaderSize(f, 1<<20), flar.ImportOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			f.Close()
			s.Close()
			b.StartTimer()
		}
	})
}
