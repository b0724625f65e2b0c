// Package cli assembles the flarecast command: one binary whose subcommands are the services
// (manager, installserver, agent) and the tools (archive, model). Each subcommand lives in its
// own file and only parses flags and prints; the work is done by the domain packages.
package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/version"
)

// NewRootCommand returns the flarecast command with every subcommand attached.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "flarecast",
		Short:         "Build, configure and deploy flash archives onto bare-metal clusters",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCommand(),
		newModelCommand(),
		newArchiveCommand(),
		newManagerCommand(),
	)
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this flarecast binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
			return err
		},
	}
}
