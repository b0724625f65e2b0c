package repository

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
)

// BenchmarkPushToRegistry pushes one archive with a 64 MiB layer from a local layout to a
// distribution registry on 127.0.0.1: with Copy, and with `crane push <layout>`, what a user
// would run instead. Each iteration pushes to a new repository, so every byte is uploaded.
func BenchmarkPushToRegistry(b *testing.B) {
	ctx := context.Background()
	reg := startRegistry(b, false)
	layer := make([]byte, 64<<20)
	for i := range layer {
		layer[i] = byte(rand.IntN(256))
	}
	src, err := OpenLocal(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, err := buildArchive("bench", nil, string(layer))
	if err != nil {
		b.Fatal(err)
	}
	if err := a.store(ctx, src, "bench"); err != nil {
		b.Fatal(err)
	}
	b.Run("flarecast-copy", func(b *testing.B) {
		b.SetBytes(int64(len(layer)))
		for i := 0; i < b.N; i++ {
			dst, err := OpenRemote(ctx, fmt.Sprintf("%s/copy%d/archives", reg.addr, benchRepo.Add(1)), Options{DockerConfig: dockerConfig(b, "example.invalid", "x", "y")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Copy(ctx, src, dst, "bench", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crane-push", func(b *testing.B) {
		crane := peer(b, "crane")
		b.SetBytes(int64(len(layer)))
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(crane, "push", "--insecure", src.Root(), fmt.Sprintf("%s/crane%d/archives:bench", reg.addr, benchRepo.Add(1)))
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+b.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("crane push: %v\n%s", err, out)
			}
		}
	})
}

// benchRepo numbers repositories across runs of a benchmark, so none starts with the blobs.
var benchRepo atomic.Int64
