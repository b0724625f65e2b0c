package e2e

import (
	"os"
	"testing"
)

// buildDirs are the directories of the programs built once per test binary (testinit, the
// agent); they outlive any one test, so they go when the binary ends, passed or failed.
var buildDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range buildDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}
