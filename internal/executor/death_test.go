package executor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// managerEnv makes the test binary play a manager (see TestMain): it submits one long build
// into the state directory the variable names, then waits to be killed.
const managerEnv = "FLARECAST_EXECUTOR_TEST_MANAGER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(managerEnv); dir != "" {
		playManager(dir)
		return
	}
	os.Exit(m.Run())
}

func playManager(dir string) {
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo $$ > "` + dir + `/build.pid"; exec sleep 60`)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := l.Submit(context.Background(), Spec{Namespace: "ns", Name: "long", Owner: owner("long"), Request: []byte(`{}`)}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	select {}
}

// alive reports whether pid is a live process (a zombie waiting for its reaper is dead).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func TestABuildDiesWithItsManagerAndIsRetriedByTheNext(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mgr := exec.Command(self)
	mgr.Env = append(os.Environ(), managerEnv+"="+dir)
	mgr.Stderr = os.Stderr
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	defer mgr.Process.Kill()
	var pid int
	for deadline := time.Now().Add(20 * time.Second); ; {
		if b, err := os.ReadFile(filepath.Join(dir, "build.pid")); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the build did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The state says Running before the build writes its pid file? Not necessarily: wait.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if st, err := readState(filepath.Join(dir, "ns", "long")); err == nil && st.Phase == Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the state never said Running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mgr.Process.Signal(syscall.SIGKILL)
	mgr.Wait()
	for deadline := time.Now().Add(20 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("build %d outlived its manager", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}

	d := newDone()
	l, err := NewLocal(LocalOptions{Dir: dir, Command: sh(`echo '{"digest":"sha256:again"}' > "$4"`), OnDone: d.on})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, _ := l.State(ctx, "ns", "long")
	if st.Phase != Failed || !st.Retryable || !strings.Contains(st.Message, fmt.Sprintf("pid %d", pid)) {
		t.Fatalf("after the manager died: %+v", st)
	}
	if err := l.Submit(ctx, Spec{Namespace: "ns", Name: "long", Owner: owner("long"), Request: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	d.wait(t, "ns/long")
	if st, _ := l.State(ctx, "ns", "long"); st.Phase != Succeeded || st.Digest != "sha256:again" {
		t.Fatalf("retried: %+v", st)
	}
}
