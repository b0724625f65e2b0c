package executor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flarecast/flarecast/internal/atomicfile"
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
	return atomicfile.WriteBytes(filepath.Join(dir, stateFile), b, 0o600)
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
