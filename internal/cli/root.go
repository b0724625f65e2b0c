// Package cli assembles the flarecast command: one binary whose subcommands are the services
// (manager, installserver, agent) and the tools (archive, model). Each subcommand lives in its
// own file and only parses flags and prints; the work is done by the domain packages.
package cli

import (
	"fmt"
	"strings"

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
	// Flag mistakes are usage errors (exit 2) in every subcommand: children inherit this.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	asGroup(root)
	root.AddCommand(
		newVersionCommand(),
		newModelCommand(),
		newArchiveCommand(),
		newManagerCommand(),
		newInstallServerCommand(),
		newInitramfsCommand(),
	)
	return root
}

// asGroup makes cmd, a command that only holds subcommands, show its help when called alone
// and refuse an unknown subcommand with exit 2. Without a RunE cobra prints the help and
// succeeds whatever word follows, so a typo in a script would pass unnoticed.
func asGroup(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, a []string) error {
		if len(a) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", a[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2 // cobra's own default, set only on its path
		}
		if s := c.SuggestionsFor(a[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return usageError(fmt.Errorf("%s\nrun '%s --help' for its commands", msg, c.CommandPath()))
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this flarecast binary",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
			return err
		},
	}
}
