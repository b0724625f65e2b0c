package repository

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
)

// BenchmarkPushAndTag stores one archive (config, one layer, manifest) and names it, in our
// layout store and in oras-go's OCI layout store, the store a Go program would pick instead.
// Ours pays for fsyncs and a flock per name; the ratio says what durability costs.
func BenchmarkPushAndTag(b *testing.B) {
	for _, size := range []int{4 << 10, 16 << 20} {
		layer := make([]byte, size)
		for i := range layer {
			layer[i] = byte(rand.IntN(256))
		}
		b.Run(fmt.Sprintf("flarecast-local/%dKiB", size>>10), func(b *testing.B) {
			s, err := OpenLocal(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			benchPushAndTag(b, layer, s)
		})
		b.Run(fmt.Sprintf("oras-oci/%dKiB", size>>10), func(b *testing.B) {
			s, err := oci.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			benchPushAndTag(b, layer, s)
		})
	}
}

func benchPushAndTag(b *testing.B, layer []byte, s oras.Target) {
	ctx := context.Background()
	b.SetBytes(int64(len(layer)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A distinct layer each time, so every push writes.
		layer[0], layer[1], layer[2], layer[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		a, err := buildArchive(fmt.Sprintf("bench-%d", i), nil, string(layer))
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range a.all() {
			if err := s.Push(ctx, d, bytes.NewReader(a.blobs[d.Digest])); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Tag(ctx, a.manifest, fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
