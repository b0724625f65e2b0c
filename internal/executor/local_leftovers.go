package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Leftover is a file or directory a local build left in the state directory: a request, a
// progress file or a work directory (downloads, spooled contents) of a job that no process
// runs.
type Leftover struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// Leftovers lists, and unless dryRun removes, what builds left in the local executor's state
// directory dir. A manager sweeps its own state directory when it starts and at the end of
// every build, so there is normally nothing; this is for a state directory whose manager is
// gone (or was an older version). A job that a live process still runs (its state says
// Pending, or Running with a pid that is alive) is left alone.
func Leftovers(dir string, dryRun bool) ([]Leftover, error) {
	states, err := filepath.Glob(filepath.Join(dir, "*", "*", stateFile))
	if err != nil {
		return nil, err
	}
	var out []Leftover
	for _, p := range states {
		job := filepath.Dir(p)
		st, err := readState(job)
		if err == nil && (st.Phase == Pending || (st.Phase == Running && processAlive(st.PID))) {
			continue
		}
		for _, name := range []string{requestFile, progressFile, progressFile + ".tmp", workDir} {
			path := filepath.Join(job, name)
			n, err := sizeOfTree(path)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return out, fmt.Errorf("leftovers in %s: %w", dir, err)
			}
			out = append(out, Leftover{Path: path, Bytes: n})
			if !dryRun {
				if err := os.RemoveAll(path); err != nil {
					return out, fmt.Errorf("remove %s: %w", path, err)
				}
			}
		}
	}
	return out, nil
}

func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func sizeOfTree(path string) (int64, error) {
	var n int64
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
