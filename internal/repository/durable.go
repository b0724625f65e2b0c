package repository

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// tempPrefix marks files that are being written. Every writer holds an exclusive flock on its
// temp file until it renames or removes it, so a cleaner that can take the lock knows the writer
// is gone (a crashed process releases its locks) and may delete the file.
const tempPrefix = ".tmp-"

// crashHook lets the crash test stop a child process at a named point of a write. It is nil
// outside tests.
var crashHook func(point string)

func crashPoint(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// createLockedTemp creates a temp file in dir and returns it with its flock held.
func createLockedTemp(dir string) (*os.File, error) {
	for {
		f, err := os.CreateTemp(dir, tempPrefix+"*")
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			discardTemp(f)
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		// Blobs and index are read by other users' tools (crane, skopeo); temp files start 0600.
		if err := f.Chmod(0o644); err != nil {
			discardTemp(f)
			return nil, fmt.Errorf("chmod %s: %w", f.Name(), err)
		}
		// A cleaner may have locked and removed the file between create and flock; then the
		// path is gone (or is someone else's) and this file would never reach the store.
		if same, _ := sameFile(f); same {
			return f, nil
		}
		f.Close()
	}
}

func sameFile(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(f.Name())
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// abandonedTemp reports whether path is a temp file whose writer is gone and that was last
// written before cutoff, and removes it when remove is set. The age test backs up the lock on
// file systems where flock does not reach every writer. Without remove it only reads: the lock
// it takes to tell a live writer from a dead one goes when the file is closed.
func abandonedTemp(path string, cutoff time.Time, remove bool) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil // a live writer holds it
		}
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	if same, _ := sameFile(f); !same {
		return false, nil // renamed into place or removed meanwhile
	}
	if fi, err := f.Stat(); err != nil || fi.ModTime().After(cutoff) {
		return false, err
	}
	if !remove {
		return true, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// cleanTemps removes (or, without remove, counts) abandoned temp files directly inside dir.
func cleanTemps(dir string, cutoff time.Time, remove bool) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		removed, err := abandonedTemp(filepath.Join(dir, e.Name()), cutoff, remove)
		if err != nil {
			return n, err
		}
		if removed {
			n++
		}
	}
	return n, nil
}

// commitTemp makes a fully written temp file durable under its final name: fsync the data,
// rename (atomic within one directory), then fsync the directory so the rename survives a
// power loss. Readers see either nothing or the whole file.
func commitTemp(f *os.File, final string) error {
	crashPoint("temp-written")
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	crashPoint("temp-synced")
	if err := os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("rename %s: %w", f.Name(), err)
	}
	crashPoint("renamed")
	if err := atomicfile.SyncDir(filepath.Dir(final)); err != nil {
		return err
	}
	return f.Close()
}

// discardTemp removes a temp file that will not be committed.
func discardTemp(f *os.File) error {
	err := os.Remove(f.Name())
	f.Close()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeFileAtomic replaces path with data, durably.
func writeFileAtomic(path string, data []byte) error {
	f, err := createLockedTemp(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		discardTemp(f)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := commitTemp(f, path); err != nil {
		discardTemp(f)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fileLock is an exclusive lock held across processes (flock) and goroutines (each lock opens
// its own file description, and flock excludes between descriptions).
type fileLock struct{ f *os.File }

func lockFile(path string) (*fileLock, error) { return flockFile(path, syscall.LOCK_EX) }

// lockFileReadOnly takes the lock exclusively without creating or writing the lock file
// (flock needs no write access). With no lock file there is no flarecast writer to exclude
// (each one makes it at open), and it returns a lock that holds nothing.
func lockFileReadOnly(path string) (*fileLock, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &fileLock{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	return flockOpen(f, path, syscall.LOCK_EX)
}

// lockFileShared takes the lock shared: holders exclude lockFile's, not each other.
func lockFileShared(path string) (*fileLock, error) { return flockFile(path, syscall.LOCK_SH) }

func flockFile(path string, how int) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	return flockOpen(f, path, how)
}

func flockOpen(f *os.File, path string, how int) (*fileLock, error) {
	var err error
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

func (l *fileLock) unlock() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
