package controllers_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
	_ "unsafe" // go:linkname, for pauseCheckEvery

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// asCLI makes the test binary run as the flarecast command (see TestMain): the local
// executor's builds run the real `archive build` without a separately built binary.
const asCLI = "FLARECAST_TEST_AS_CLI"

// pauseCheckEveryEnv, in the environment of the test binary run as flarecast, sets how often
// its paused builds measure their root: a test that resumes a grown root sets it past the
// test's length, so that the only measure is the resume's (a pod is another process, which
// the test cannot reach but through its environment).
const pauseCheckEveryEnv = "FLARECAST_TEST_PAUSE_CHECK_EVERY"

// pauseCheckEvery is the build package's own (unexported: no flag of flarecast sets it).
//
//go:linkname pauseCheckEvery github.com/flarecast/flarecast/internal/executor/build.pauseCheckEvery
var pauseCheckEvery time.Duration

// repoDir is the archive repository of the suite's manager; buildsDir its local executor's
// state; both are under archivesBase.
var repoDir, buildsDir, archivesBase string

// jobExecutorLabel marks the FlashArchives of the job-executor test: the suite's manager
// leaves them to the manager that test starts.
const jobExecutorLabel = "flarecast.io/test-executor"

func mainCache() cache.Options {
	sel, err := labels.Parse("!" + jobExecutorLabel)
	if err != nil {
		panic(err)
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{&fcv1.FlashArchive{}: {Label: sel}}}
}

func runCLI(args []string) int {
	if v := os.Getenv(pauseCheckEveryEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "flarecast (test): %s=%q is no positive duration\n", pauseCheckEveryEnv, v)
			return 2
		}
		pauseCheckEvery = d
	}
	root := cli.NewRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flarecast:", err)
	}
	return cli.ExitCode(err)
}

func archiveOptions() controllers.ArchiveOptions {
	var err error
	archivesBase, err = os.MkdirTemp("", "flarecast-controllers-")
	if err != nil {
		panic(err)
	}
	repoDir, buildsDir = filepath.Join(archivesBase, "repo"), filepath.Join(archivesBase, "builds")
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return controllers.ArchiveOptions{
		Repository: repoDir,
		Executor:   controllers.ExecutorLocal,
		Local: executor.LocalOptions{Dir: buildsDir, Command: []string{self, "archive", "build"},
			Env: []string{asCLI + "=1"}, Concurrency: executor.DefaultConcurrency},
		// The tests' tarballs and image layouts are in their temporary directories; the only
		// host they fetch from is this one (and so the samples' Docker Hub image is refused
		// before any connection leaves the machine).
		Limits: build.Limits{AllowFileSources: []string{os.TempDir()}, AllowHosts: []string{"127.0.0.1"}, AllowBuildSources: true},
	}
}
