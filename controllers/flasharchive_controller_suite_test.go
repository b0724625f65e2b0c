package controllers_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/cli"
	"github.com/flarecast/flarecast/internal/executor"
)

// asCLI makes the test binary run as the flarecast command (see TestMain): the local
// executor's builds run the real `archive build` without a separately built binary.
const asCLI = "FLARECAST_TEST_AS_CLI"

// repoDir is the archive repository of the suite's manager; buildsDir its local executor's
// state.
var repoDir, buildsDir string

func runCLI(args []string) int {
	root := cli.NewRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "flarecast:", err)
	}
	return cli.ExitCode(err)
}

func archiveOptions() controllers.ArchiveOptions {
	base, err := os.MkdirTemp("", "flarecast-controllers-")
	if err != nil {
		panic(err)
	}
	repoDir, buildsDir = filepath.Join(base, "repo"), filepath.Join(base, "builds")
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return controllers.ArchiveOptions{
		Repository: repoDir,
		Executor:   controllers.ExecutorLocal,
		Local: executor.LocalOptions{Dir: buildsDir, Command: []string{self, "archive", "build"},
			Env: []string{asCLI + "=1"}, Concurrency: 2},
	}
}
