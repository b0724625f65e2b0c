package e2e

import (
	"io"
	"os"
	"sync"
	"testing"

	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// buildDirs are the directories of the programs built once per test binary (testinit, the
// agent); they outlive any one test, so they go when the binary ends, passed or failed.
// Parallel subtests (the PXE installs) build them at once: addBuildDir takes the lock.
var (
	buildDirsMu sync.Mutex
	buildDirs   []string
)

func addBuildDir(dir string) {
	buildDirsMu.Lock()
	defer buildDirsMu.Unlock()
	buildDirs = append(buildDirs, dir)
}

func TestMain(m *testing.M) {
	// The tests' clients and the rollout's reconcilers (pxeinstall_test.go) log nothing of
	// use here; without a logger, controller-runtime prints a warning with a stack instead.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	code := m.Run()
	for _, d := range buildDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}
