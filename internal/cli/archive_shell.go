package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/executor"
)

func newArchiveShellCommand() *cobra.Command {
	var namespace, stateDir string
	cmd := &cobra.Command{
		Use:   "shell NAME [-n NAMESPACE] [--executor-state-dir DIR] [-- COMMAND [ARG…]]",
		Short: "Open a shell in the build root of a FlashArchive that awaits customization",
		Long: `Shell runs a shell (or COMMAND) with the build root of the FlashArchive NAME as its root
directory, while that archive's build source waits in phase AwaitingCustomization
(spec.source.build.pause: BeforeCapture) under the local executor whose state directory is
--executor-state-dir. The shell has mount and PID namespaces of its own, with /proc mounted:
what it mounts goes when it exits, and nothing of it stays in the build root but the files it
changed. Once done, annotate the archive as its status says (flarecast.io/customized) and the
build captures the root as it is. Must run as root, on the manager's host.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			name, command := argv[0], argv[1:]
			if cmd.ArgsLenAtDash() > 1 || (cmd.ArgsLenAtDash() < 0 && len(argv) > 1) {
				return usageError(fmt.Errorf("one archive NAME, then -- COMMAND"))
			}
			paused, err := executor.FindPaused(stateDir, namespace, name)
			if err != nil {
				return err
			}
			switch len(paused) {
			case 0:
				return fmt.Errorf("FlashArchive %s/%s has no build awaiting customization in %s", namespace, name, stateDir)
			case 1:
			default:
				var names []string
				for _, p := range paused {
					names = append(names, p.Name)
				}
				return fmt.Errorf("FlashArchive %s/%s has %d paused builds (%s); cannot tell which", namespace, name, len(paused), strings.Join(names, ", "))
			}
			root := paused[0].Root
			if len(command) == 0 {
				command = []string{"/bin/sh", "-l"}
				if _, err := os.Stat(filepath.Join(root, "bin/bash")); err == nil {
					command = []string{"/bin/bash", "-l"}
				}
			}
			args := append([]string{"--mount", "--pid", "--fork", "--kill-child", "--mount-proc=" + filepath.Join(root, "proc"), "chroot", root}, command...)
			c := exec.CommandContext(cmd.Context(), "unshare", args...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			c.Env = append(os.Environ(), "PS1=("+name+") \\w# ")
			if err := c.Run(); err != nil {
				return fmt.Errorf("shell in %s: %w", root, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "the FlashArchive's namespace")
	cmd.Flags().StringVar(&stateDir, "executor-state-dir", "./flarecast-builds", "the local executor's state directory (the manager's --executor-state-dir)")
	return cmd
}
