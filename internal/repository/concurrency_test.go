package repository

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestConcurrentWritersKeepTheStoreConsistent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	root := t.TempDir()
	shared, err := OpenLocal(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const perWriter = 8
	var ids []string
	var wg sync.WaitGroup
	errs := make(chan error, 32)

	// Processes: flock must order their index updates with ours.
	var procs []string
	for p := 0; p < 3; p++ {
		id := fmt.Sprintf("p%d", p)
		ids, procs = append(ids, id), append(procs, id)
		cmd := child(t, "writer", root, id, perWriter)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("process %s: %v: %s", id, err, out)
			}
		}()
	}
	// Goroutines: some share one Store value, some open their own.
	for g := 0; g < 6; g++ {
		id := fmt.Sprintf("g%d", g)
		ids = append(ids, id)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := shared
			if g%2 == 1 {
				own, err := OpenLocal(root, Options{})
				if err != nil {
					errs <- err
					return
				}
				s = own
			}
			if err := writeArchives(ctx, s, id, perWriter); err != nil {
				errs <- fmt.Errorf("goroutine %s: %w", id, err)
			}
		}()
	}
	// And a collector running all along: within the grace period it must remove nothing.
	stop := make(chan struct{})
	gcDone := make(chan error, 1)
	go func() {
		removed := 0
		for {
			select {
			case <-stop:
				if removed != 0 {
					gcDone <- fmt.Errorf("gc removed %d blobs of live writers", removed)
				} else {
					gcDone <- nil
				}
				return
			default:
			}
			r, err := shared.GC(ctx, false)
			if err != nil {
				gcDone <- err
				return
			}
			removed += len(r.Removed)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-gcDone; err != nil {
		t.Error(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	list, err := shared.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range list {
		names[e.Name] = true
	}
	for _, id := range ids {
		for i := 0; i < perWriter; i++ {
			if n := fmt.Sprintf("%s-%d", id, i); !names[n] {
				t.Errorf("name %s lost", n)
			}
		}
	}
	if want := len(ids)*perWriter + 1; len(list) != want {
		t.Errorf("list has %d names, want %d", len(list), want)
	}
	if !names["latest"] {
		t.Error("name latest lost")
	}
	checkConsistent(t, shared)
	checkNoAbandonedTemps(t, shared)
	t.Logf("%d writers (%d processes) wrote %d names", len(ids), len(procs), len(list))
}
