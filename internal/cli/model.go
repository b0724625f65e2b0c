package cli

import "github.com/spf13/cobra"

func newModelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Work with the cluster, machine and network models",
	}
	cmd.AddCommand(newModelCheckCommand())
	return asGroup(cmd)
}
