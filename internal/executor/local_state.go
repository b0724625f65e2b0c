package executor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Files of a job's directory.
const (
	requestFile = "request.json"
	stateFile   = "state.json"
	resultFile  = "result.json"
	logFile     = "build.log"
)

// diskState is state.json.
type diskState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Owner     string `json:"owner,omitempty"`
	Phase     Phase  `json:"phase"`
	Message   string `json:"message,omitempty"`
	Digest    string `json:"digest,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Retryable bool   `json:"retryable,omitempty"`
}

func readState(dir string) (diskState, error) {
	var st diskState
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

func writeState(dir string, st diskState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

// result is the part of result.json (what `archive build --result` writes) the executor reads.
type result struct {
	Digest string `json:"digest"`
}

func readResult(dir string) (result, error) {
	var r result
	b, err := os.ReadFile(filepath.Join(dir, resultFile))
	if err != nil {
		return r, fmt.Errorf("the build exited 0 but wrote no result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Digest == "" {
		return r, fmt.Errorf("the build's result %s is not a result: %v", filepath.Join(dir, resultFile), err)
	}
	return r, nil
}

// WriteFileAtomic writes data to path so that a reader sees the old content or the new, never
// a part: a temporary file in the same directory, synced, then renamed over path.
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
