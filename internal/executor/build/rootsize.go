package build

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"
)

// rootCheckEvery is how often a build root is measured while apt writes into it: a package
// (or its maintainer script) that grows the root past maxSize is stopped within about that
// long, not when the disk is full.
var rootCheckEvery = time.Second

// pauseCheckEvery is how often a paused build root is measured: what a person adds by hand
// grows it slower than apt, and a pause can last hours, so it is walked less often.
var pauseCheckEvery = 5 * time.Second

// rootTooLarge is the cause of a step stopped because the build root passed maxSize.
type rootTooLarge struct{ size int64 }

func (e *rootTooLarge) Error() string { return "the build root passed maxSize" }

// rootSize is the size of the regular files under root, each inode once: what its tar
// would hold.
func rootSize(root string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk (dpkg renames into place)
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		total += fi.Size()
		return nil
	})
	return total, err
}

// boundedRoot runs step with a context that is cancelled, with a *rootTooLarge cause, once
// root holds more than max bytes (checked every rootCheckEvery, and once more when step
// returns). A non-positive max bounds nothing.
func boundedRoot(ctx context.Context, root string, max int64, step func(context.Context) error) error {
	return boundedRootEvery(ctx, root, max, rootCheckEvery, step)
}

// boundedRootEvery is boundedRoot measuring every interval.
func boundedRootEvery(ctx context.Context, root string, max int64, every time.Duration, step func(context.Context) error) error {
	if max <= 0 {
		return step(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n, err := rootSize(root); err == nil && n > max {
					cancel(&rootTooLarge{size: n})
					return
				}
			}
		}
	}()
	err := step(ctx)
	close(done)
	<-watched
	var big *rootTooLarge
	if errors.As(context.Cause(ctx), &big) {
		return big
	}
	if err == nil {
		if n, serr := rootSize(root); serr == nil && n > max {
			return &rootTooLarge{size: n}
		}
	}
	return err
}
