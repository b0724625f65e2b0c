package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// LocalOptions configure NewLocal.
type LocalOptions struct {
	// Dir holds one directory per job: request.json, state.json, result.json, build.log.
	Dir string
	// Command runs a build; the executor appends --request FILE --result FILE. Default: this
	// executable with `archive build`.
	Command []string
	// Env is added to the command's environment.
	Env []string
	// Concurrency bounds the builds running at once (default DefaultConcurrency): packing is
	// disk and CPU bound, and the manager's host has other work; but one slow download must
	// not hold every other archive.
	Concurrency int
	// OnDone is called (from the job's goroutine) when a job ends, with its namespace and the
	// name of its owner. It must not block for long: builds wait for it.
	OnDone func(namespace, owner string)
}

// DefaultConcurrency is the builds a Local executor runs at once unless told.
const DefaultConcurrency = 4

// Local runs builds as subprocesses of the manager.
type Local struct {
	opts LocalOptions
	sem  chan struct{}
	mu   sync.Mutex
	jobs map[string]*job
}

type job struct {
	dir   string
	state diskState
	// proc is the build's process while it runs. cancel is closed when the job's owner goes
	// away; done when the job's goroutine has ended (its process reaped).
	proc         *os.Process
	cancel, done chan struct{}
	canceled     bool
}

func newJob(dir string, st diskState) *job {
	return &job{dir: dir, state: st, cancel: make(chan struct{}), done: make(chan struct{})}
}

var _ Executor = (*Local)(nil)

// NewLocal opens the state directory. Jobs a previous manager left Pending are started again;
// those it left Running lost their process with it (builds die with the manager): they are
// Failed and Retryable, as are those whose state.json cannot be read. What their builds left
// (requests, downloads, spool files) is removed first: no build runs at that point.
func NewLocal(opts LocalOptions) (*Local, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if len(opts.Command) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local executor: find this executable: %w", err)
		}
		opts.Command = []string{self, "archive", "build"}
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("local executor: state directory: %w", err)
	}
	l := &Local{opts: opts, sem: make(chan struct{}, opts.Concurrency), jobs: map[string]*job{}}
	if err := l.recover(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Local) recover() error {
	dirs, err := filepath.Glob(filepath.Join(l.opts.Dir, "*", "*", stateFile))
	if err != nil {
		return err
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		st, err := readState(dir)
		if err != nil {
			// The directory names the job. What became of it is unknown: it runs again when
			// submitted, like an interrupted one, instead of keeping every build from starting.
			st = diskState{Namespace: filepath.Base(filepath.Dir(dir)), Name: filepath.Base(dir), Phase: Failed, Retryable: true,
				Message: fmt.Sprintf("state lost (%v); it is run again when submitted", err)}
			if err := writeState(dir, st); err != nil {
				return fmt.Errorf("local executor: %w", err)
			}
		}
		sweep(dir, st.Phase == Pending)
		j := newJob(dir, st)
		l.jobs[key(st.Namespace, st.Name)] = j
		switch st.Phase {
		case Pending:
			l.start(j)
		case Running:
			j.state.Phase, j.state.Retryable = Failed, true
			j.state.Message = fmt.Sprintf("interrupted: the build (pid %d) stopped with the manager that ran it; it is run again when submitted", st.PID)
			if err := writeState(dir, j.state); err != nil {
				return fmt.Errorf("local executor: %w", err)
			}
		}
	}
	return nil
}

func key(namespace, name string) string { return namespace + "/" + name }

// Submit implements Executor.
func (l *Local) Submit(_ context.Context, spec Spec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key(spec.Namespace, spec.Name)
	// They become directories under Dir, which Forget removes: "ns/.." would be Dir itself.
	if errs := validation.IsDNS1123Label(spec.Namespace); len(errs) > 0 {
		return fmt.Errorf("submit %s: namespace %q is not a valid Kubernetes namespace: %s", k, spec.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(spec.Name); len(errs) > 0 {
		return fmt.Errorf("submit %s: name %q is not a valid Kubernetes name: %s", k, spec.Name, strings.Join(errs, "; "))
	}
	if j, ok := l.jobs[k]; ok && !(j.state.Phase == Failed && j.state.Retryable) {
		return nil
	}
	dir := filepath.Join(l.opts.Dir, spec.Namespace, spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("submit %s: %w", k, err)
	}
	os.Remove(filepath.Join(dir, resultFile))
	if err := atomicfile.WriteBytes(filepath.Join(dir, requestFile), spec.Request, 0o600); err != nil {
		return fmt.Errorf("submit %s: %w", k, err)
	}
	j := newJob(dir, diskState{Namespace: spec.Namespace, Name: spec.Name, Owner: spec.Owner.Name, Phase: Pending, Deadline: spec.Deadline})
	if err := writeState(dir, j.state); err != nil {
		return fmt.Errorf("submit %s: %w", k, err)
	}
	l.jobs[k] = j
	l.start(j)
	return nil
}

// start runs the job in its own goroutine once a slot is free. Called with l.mu held or
// before l is shared.
func (l *Local) start(j *job) {
	go func() {
		defer close(j.done)
		select {
		case l.sem <- struct{}{}:
		case <-j.cancel:
			l.drop(j)
			return
		}
		defer func() { <-l.sem }()
		if l.run(j) && l.opts.OnDone != nil {
			l.opts.OnDone(j.state.Namespace, j.state.Owner)
		}
	}()
}

// run runs the build and records its end; it reports false for a job whose owner went away
// meanwhile (the job is dropped, not recorded).
func (l *Local) run(j *job) bool {
	// The parent-death signal follows the thread that started the child, not the process:
	// keep this goroutine on its thread until the child is reaped, so the thread cannot end
	// (and kill the build) while the manager lives.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	args := append(append([]string(nil), l.opts.Command[1:]...),
		"--request", filepath.Join(j.dir, requestFile), "--result", filepath.Join(j.dir, resultFile),
		"--progress", filepath.Join(j.dir, progressFile), "--work-dir", filepath.Join(j.dir, workDir))
	cmd := exec.Command(l.opts.Command[0], args...)
	cmd.Env = append(os.Environ(), l.opts.Env...)
	// A build dies with the manager: a restarted manager then knows that a job left Running
	// has no process, instead of guessing from a pid that may be reused.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(j.dir, logFile))
	if err != nil {
		return l.finish(j, diskState{Phase: Failed, Message: fmt.Sprintf("build log: %v", err)})
	}
	defer logf.Close()
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = logf, &teeWriter{logf, &tail}
	if err := cmd.Start(); err != nil {
		return l.finish(j, diskState{Phase: Failed, Message: fmt.Sprintf("start %s: %v", l.opts.Command[0], err)})
	}
	l.mu.Lock()
	j.proc = cmd.Process
	j.state.Phase, j.state.PID = Running, cmd.Process.Pid
	if j.canceled {
		err = errors.New("canceled")
	} else {
		err = writeState(j.dir, j.state)
	}
	l.mu.Unlock()
	if err != nil {
		cmd.Process.Kill()
	}
	var overdue atomic.Bool
	if d := j.state.Deadline; d > 0 {
		stop := time.AfterFunc(d, func() { overdue.Store(true); cmd.Process.Kill() })
		defer stop.Stop()
	}
	werr := cmd.Wait()
	if werr != nil && overdue.Load() {
		return l.finish(j, diskState{Phase: Failed, Reason: "BuildTimeout",
			Message: fmt.Sprintf("the build ran past its deadline of %s and was stopped", j.state.Deadline)})
	}
	if werr != nil {
		if reason, msg := failureOf(j.dir); reason != "" {
			return l.finish(j, diskState{Phase: Failed, Reason: reason, Message: msg})
		}
		msg := strings.TrimSpace(tail.String())
		if msg == "" {
			msg = werr.Error()
		}
		return l.finish(j, diskState{Phase: Failed, Message: fmt.Sprintf("build failed (%v): %s", werr, msg)})
	}
	res, err := readResult(j.dir)
	if err != nil {
		return l.finish(j, diskState{Phase: Failed, Message: err.Error()})
	}
	return l.finish(j, diskState{Phase: Succeeded, Message: "built", Digest: res.Digest})
}

// finish records the end of a job, or drops it when its owner went away; it reports whether
// it recorded it.
func (l *Local) finish(j *job, st diskState) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	j.proc = nil
	// The build is over: what it needed while it ran goes, whether it succeeded or not; the
	// request goes too (it may hold Secret content), and a retry writes it again.
	sweep(j.dir, false)
	if j.canceled {
		l.dropLocked(j)
		return false
	}
	st.Namespace, st.Name, st.Owner, st.Deadline = j.state.Namespace, j.state.Name, j.state.Owner, j.state.Deadline
	j.state = st
	if err := writeState(j.dir, st); err != nil {
		// The state stays right in memory; a restart would find the job Running and retry it.
		j.state.Message += fmt.Sprintf(" (state not saved: %v)", err)
	}
	return true
}

// drop removes a canceled job and its directory.
func (l *Local) drop(j *job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(j)
}

func (l *Local) dropLocked(j *job) {
	k := key(j.state.Namespace, j.state.Name)
	if l.jobs[k] == j {
		delete(l.jobs, k)
	}
	// Nobody is left to read the directory; a failure to remove it leaves it to a restart,
	// which finds the job finished or interrupted.
	os.RemoveAll(j.dir)
}

// State implements Executor.
func (l *Local) State(_ context.Context, namespace, name string) (State, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.jobs[key(namespace, name)]
	if !ok {
		return State{}, nil
	}
	s := j.state
	st := State{Phase: s.Phase, Message: s.Message, Digest: s.Digest, Retryable: s.Retryable, Reason: s.Reason}
	if s.Phase == Running {
		st.Progress = readProgress(j.dir)
	}
	return st, nil
}

// Forget implements Executor.
func (l *Local) Forget(_ context.Context, namespace, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key(namespace, name)
	j, ok := l.jobs[k]
	if !ok {
		return nil
	}
	if j.state.Phase == Pending || j.state.Phase == Running {
		return nil
	}
	delete(l.jobs, k)
	if err := os.RemoveAll(j.dir); err != nil {
		return fmt.Errorf("forget %s: %w", k, err)
	}
	return nil
}

// ForgetOwner implements Executor. The owner's running builds are killed and its waiting ones
// never start, as the Job executor's Jobs are deleted with their owner: a build left running
// would name its archive after the owner's deletion untagged it, and nobody would forget it.
// It returns once they have ended.
func (l *Local) ForgetOwner(ctx context.Context, namespace, owner string) error {
	l.mu.Lock()
	var names []string
	var active []*job
	for _, j := range l.jobs {
		if j.state.Namespace != namespace || j.state.Owner != owner {
			continue
		}
		if j.state.Phase != Pending && j.state.Phase != Running {
			names = append(names, j.state.Name)
			continue
		}
		if !j.canceled {
			j.canceled = true
			close(j.cancel)
			if j.proc != nil {
				j.proc.Kill()
			}
		}
		active = append(active, j)
	}
	l.mu.Unlock()
	for _, j := range active {
		select {
		case <-j.done:
		case <-ctx.Done():
			return fmt.Errorf("forget builds of %s/%s: %w", namespace, owner, ctx.Err())
		}
	}
	for _, n := range names {
		if err := l.Forget(ctx, namespace, n); err != nil {
			return err
		}
	}
	return nil
}

// tailBuffer keeps the last bytes written to it: the end of a failed build's stderr is its
// error message.
type tailBuffer struct{ b bytes.Buffer }

const tailSize = 2048

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if t.b.Len() > tailSize {
		rest := t.b.Bytes()[t.b.Len()-tailSize:]
		t.b = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return t.b.String() }

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	return w.a.Write(p)
}
