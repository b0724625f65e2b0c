package executor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// Files of a job's directory. The request (it may hold Secret content), the progress and
// the work directory (downloads, spooled contents) live only while the build runs.
const (
	requestFile  = "request.json"
	stateFile    = "state.json"
	resultFile   = "result.json"
	logFile      = "build.log"
	progressFile = "progress.json"
	workDir      = "work"
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
	Reason    string `json:"reason,omitempty"`
	// Deadline is the job's Spec.Deadline, kept for a job a restart starts again.
	Deadline time.Duration `json:"deadline,omitempty"`
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

// result is the part of result.json (what `archive build --result` writes) the executor
// reads: the digest built, or the failure that stopped the build.
type result struct {
	Digest  string `json:"digest"`
	Failure *struct {
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"failure,omitempty"`
}

// failureOf is the failure a failed build recorded in its result, if it did.
func failureOf(dir string) (reason, message string) {
	var r result
	b, err := os.ReadFile(filepath.Join(dir, resultFile))
	if err != nil || json.Unmarshal(b, &r) != nil || r.Failure == nil {
		return "", ""
	}
	return r.Failure.Reason, r.Failure.Message
}

func readProgress(dir string) *Progress {
	var p Progress
	b, err := os.ReadFile(filepath.Join(dir, progressFile))
	if err != nil || json.Unmarshal(b, &p) != nil {
		return nil
	}
	return &p
}

// sweep removes what only a running build needs: the request (unless the job is still to
// run), its progress, and its work directory. It is best effort: what it cannot remove now
// the next sweep (a restart, the job's end or forgetting) removes.
func sweep(dir string, keepRequest bool) {
	if !keepRequest {
		os.Remove(filepath.Join(dir, requestFile))
	}
	os.Remove(filepath.Join(dir, progressFile))
	os.Remove(filepath.Join(dir, progressFile+".tmp"))
	os.RemoveAll(filepath.Join(dir, workDir))
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
