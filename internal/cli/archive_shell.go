package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
)

func newArchiveShellCommand() *cobra.Command {
	var namespace, stateDir, root string
	cmd := &cobra.Command{
		Use:   "shell {NAME [-n NAMESPACE] [--executor-state-dir DIR] | --root DIR} [-- COMMAND [ARG…]]",
		Short: "Open a shell in the build root of a FlashArchive that awaits customization",
		Long: `Shell runs a shell (or COMMAND) with the build root of the FlashArchive NAME as its root
directory, while that archive's build source waits in phase AwaitingCustomization
(spec.source.build.pause: BeforeCapture) under the local executor whose state directory is
--executor-state-dir. The shell has mount and PID namespaces of its own, with /proc mounted
and, in a user-namespaced build pod, the device nodes of the pod bound over the stand-ins of
the base's: what it mounts goes when it exits, and nothing of it stays in the build root but
the files it changed. Once done, annotate the archive as its status says
(flarecast.io/customized) and the build captures the root as it is.

With --root DIR, the build root is DIR: what the Job executor's status line runs in the build
pod (kubectl exec … -- /flarecast archive shell --root DIR). Must run as root: on the
manager's host for the local executor, in the build pod for the Job executor.`,
		Args: args(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, argv []string) error {
			named := argv
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				named = argv[:d]
			}
			command := argv[len(named):]
			if root == "" {
				if len(named) != 1 {
					return usageError(fmt.Errorf("one archive NAME (or --root DIR), then -- COMMAND"))
				}
				var err error
				if root, err = pausedRoot(stateDir, namespace, named[0]); err != nil {
					return err
				}
			} else if len(named) != 0 {
				return usageError(fmt.Errorf("--root DIR names the build root: no archive NAME with it"))
			}
			c, err := build.ShellCommand(cmd.Context(), root, command)
			if err != nil {
				return err
			}
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			prompt := filepath.Base(filepath.Dir(root))
			if len(named) == 1 {
				prompt = named[0]
			}
			c.Env = append(os.Environ(), "PS1=("+prompt+") \\w# ")
			if err := c.Run(); err != nil {
				return fmt.Errorf("shell in %s: %w", root, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "the FlashArchive's namespace")
	cmd.Flags().StringVar(&stateDir, "executor-state-dir", "./flarecast-builds", "the local executor's state directory (the manager's --executor-state-dir)")
	cmd.Flags().StringVar(&root, "root", "", "the build root itself (in a Job executor's build pod), instead of NAME")
	return cmd
}

// pausedRoot is the build root of the one paused build of archive name in a local executor's
// state directory.
func pausedRoot(stateDir, namespace, name string) (string, error) {
	paused, err := executor.FindPaused(stateDir, namespace, name)
	if err != nil {
		return "", err
	}
	switch len(paused) {
	case 0:
		return "", fmt.Errorf("FlashArchive %s/%s has no build awaiting customization in %s", namespace, name, stateDir)
	case 1:
		return paused[0].Root, nil
	}
	var names []string
	for _, p := range paused {
		names = append(names, p.Name)
	}
	return "", fmt.Errorf("FlashArchive %s/%s has %d paused builds (%s); cannot tell which", namespace, name, len(paused), strings.Join(names, ", "))
}
