package tarball

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// peakHeap runs f while sampling the heap, and returns the largest HeapInuse seen.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	return peak.Load()
}

func TestPackMemoryDoesNotGrowWithTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("packs 400 MB")
	}
	dir := t.TempDir()
	// 400 MB of content, in files small enough to be read ahead and files big enough to be
	// streamed; holes keep the disk use and the compression time low.
	for i := range 40 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("big%02d", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("x"), 5<<20)
		f.Truncate(9 << 20)
		f.Close()
	}
	for i := range 2000 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("small%04d", i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(20 << 10)
		f.Close()
	}
	runtime.GC()
	var st Stats
	var err error
	peak := peakHeap(func() {
		st, err = Pack(context.Background(), DirSource(dir), io.Discard, PackOptions{})
	})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 128 << 20
	t.Logf("peak heap %d MiB packing %d MiB of tar", peak>>20, st.TarBytes>>20)
	if st.TarBytes < 400<<20 || peak > limit {
		t.Fatalf("peak heap %d MiB (limit %d MiB) for %d MiB of tar", peak>>20, limit>>20, st.TarBytes>>20)
	}
}
