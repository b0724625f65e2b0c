package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Customizer is an executor whose builds can pause for a person to customize the build root
// (a build source's pause): it says how to get a shell in it, and ends the pause.
type Customizer interface {
	// CanPause says why builds that pause cannot run here (nil when they can): refused
	// before they start, rather than waiting for a resume that cannot come.
	CanPause() error
	// ShellCommand is the command a person runs to get a shell in the paused build's root.
	ShellCommand(ctx context.Context, namespace, name, owner, root string) (string, error)
	// Resume ends the pause of a running build; the build then captures its root.
	Resume(ctx context.Context, namespace, name string) error
}

var (
	_ Customizer = (*Local)(nil)
	_ Customizer = (*Job)(nil)
)

// ResumeFile is the file of a build's work directory whose creation ends its pause (the
// build polls for it): build.ResumeFile, repeated here so the executor needs no build import.
const ResumeFile = "resume"

// ShellCommand implements Customizer: `flarecast archive shell`, which finds the build root
// from the state directory.
func (l *Local) ShellCommand(_ context.Context, namespace, _, owner, _ string) (string, error) {
	dir, err := filepath.Abs(l.opts.Dir)
	if err != nil {
		dir = l.opts.Dir
	}
	return fmt.Sprintf("flarecast archive shell %s -n %s --executor-state-dir %s", owner, namespace, dir), nil
}

// CanPause implements Customizer: a local build can always pause.
func (l *Local) CanPause() error { return nil }

// Resume implements Customizer.
func (l *Local) Resume(_ context.Context, namespace, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.jobs[key(namespace, name)]
	if !ok || j.state.Phase != Running {
		return fmt.Errorf("resume %s/%s: no such running build", namespace, name)
	}
	if err := os.WriteFile(filepath.Join(j.dir, workDir, ResumeFile), nil, 0o600); err != nil {
		return fmt.Errorf("resume %s/%s: %w", namespace, name, err)
	}
	return nil
}

// PausedBuild is a running build of a local state directory that waits for customization.
type PausedBuild struct {
	Namespace, Name, Owner string
	// Root is its build root.
	Root string
}

// FindPaused returns the paused builds of owner in the state directory dir (what a person
// runs `flarecast archive shell` for: the manager keeps no other record of them).
func FindPaused(dir, namespace, owner string) ([]PausedBuild, error) {
	states, err := filepath.Glob(filepath.Join(dir, namespace, "*", stateFile))
	if err != nil {
		return nil, err
	}
	var out []PausedBuild
	for _, p := range states {
		jd := filepath.Dir(p)
		st, err := readState(jd)
		if err != nil || st.Owner != owner || st.Phase != Running {
			continue
		}
		b, err := os.ReadFile(filepath.Join(jd, progressFile))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var pr Progress
		if err != nil || json.Unmarshal(b, &pr) != nil || pr.Root == "" {
			continue
		}
		out = append(out, PausedBuild{Namespace: st.Namespace, Name: st.Name, Owner: owner, Root: pr.Root})
	}
	return out, nil
}
