package repository

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// The concurrency and crash tests re-run this test binary as writer processes; these
// variables tell a child what to do.
const (
	childModeEnv  = "FLARECAST_REPOSITORY_CHILD"
	childStoreEnv = "FLARECAST_REPOSITORY_STORE"
	childIDEnv    = "FLARECAST_REPOSITORY_ID"
	childCountEnv = "FLARECAST_REPOSITORY_COUNT"
	crashPointEnv = "FLARECAST_REPOSITORY_CRASH_POINT"
	crashAtEnv    = "FLARECAST_REPOSITORY_CRASH_AT"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(mode string) error {
	n, _ := strconv.Atoi(os.Getenv(childCountEnv))
	id := os.Getenv(childIDEnv)
	switch mode {
	case "writer":
		s, err := OpenLocal(os.Getenv(childStoreEnv), Options{})
		if err != nil {
			return err
		}
		return writeArchives(context.Background(), s, id, n)
	case "crash":
		point := os.Getenv(crashPointEnv)
		at, _ := strconv.Atoi(os.Getenv(crashAtEnv))
		seen := 0
		crashHook = func(p string) {
			if p == point {
				if seen++; seen == at {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		s, err := OpenLocal(os.Getenv(childStoreEnv), Options{GCGrace: -1})
		if err != nil {
			return err
		}
		return churn(context.Background(), s, id, n)
	}
	return fmt.Errorf("unknown child mode %q", mode)
}

// writeArchives is one writer of the concurrency test: n archives that share a layer with
// every other writer, each named, and the shared name "latest" moved to each in turn.
func writeArchives(ctx context.Context, s Store, id string, n int) error {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", id, i)
		a, err := buildArchive(name, nil, "layer every writer shares", "layer of "+name)
		if err != nil {
			return err
		}
		if err := ingest(ctx, s, "streamed by "+name); err != nil {
			return err
		}
		if err := a.store(ctx, s, name); err != nil {
			return err
		}
		if err := s.Tag(ctx, a.manifest, "latest"); err != nil {
			return err
		}
	}
	return nil
}

func ingest(ctx context.Context, s Store, data string) error {
	in, err := s.Ingest(ctx)
	if err != nil {
		return err
	}
	defer in.Abort()
	if _, err := io.WriteString(in, data); err != nil {
		return err
	}
	_, err = in.Commit(ctx, "application/octet-stream")
	return err
}

// churn exercises every kind of write the crash test interrupts: pushes, ingests, names,
// referrers, untags and collections that remove blobs.
func churn(ctx context.Context, s *Local, id string, n int) error {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", id, i)
		a, err := buildArchive(name, nil, "shared layer", "layer of "+name, fmt.Sprintf("big %0512d", i))
		if err != nil {
			return err
		}
		if err := ingest(ctx, s, "streamed by "+name); err != nil {
			return err
		}
		if err := a.store(ctx, s, name); err != nil {
			return err
		}
		sig, err := buildArchive("sig-"+name, &a.manifest, "signature of "+name)
		if err != nil {
			return err
		}
		if err := sig.store(ctx, s, ""); err != nil {
			return err
		}
		if i > 0 {
			if err := s.Untag(ctx, fmt.Sprintf("%s-%d", id, i-1)); err != nil {
				return err
			}
		}
		if i%2 == 1 {
			if _, err := s.GC(ctx, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// child starts this test binary as a writer process.
func child(t *testing.T, mode, store, id string, n int, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childModeEnv+"="+mode, childStoreEnv+"="+store, childIDEnv+"="+id, childCountEnv+"="+strconv.Itoa(n))
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}
