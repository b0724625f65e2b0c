package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive"
)

func newArchiveExtractCommand(f *archiveFlags) *cobra.Command {
	var deployable, rootless bool
	cmd := &cobra.Command{
		Use:   "extract NAME|DIGEST DIR",
		Short: "Write an archive's root file system, with its sections applied, into a directory",
		Long: `Extract writes the binary section into DIR (created if missing), then applies the
configuration section and the cluster section on top: their files at their own paths, their
metadata under /var/lib/flarecast/configuration and /var/lib/flarecast/cluster. Nothing is
written outside DIR, whatever the archive holds. Each section is checked against its digest and
diffID while it is read. With --deployable the archive must be a deployable one (what a node
installs).`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			store, err := f.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			_, statErr := os.Stat(a[1])
			if err := os.MkdirAll(a[1], 0o755); err != nil {
				return fmt.Errorf("extract: %w", err)
			}
			bar := newProgress(cmd, -1, "extracting")
			reps, err := archive.Extract(cmd.Context(), store, a[0], a[1], archive.ExtractOptions{
				RequireDeployable: deployable, Rootless: rootless || os.Geteuid() != 0, Progress: bar.add,
			})
			bar.finish()
			if err != nil {
				if os.IsNotExist(statErr) {
					os.Remove(a[1]) // only when this command made it and nothing was written
				}
				return err
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), reps)
			}
			w := cmd.OutOrStdout()
			for _, r := range reps {
				fmt.Fprintf(w, "%s: %d entries, %s of files\n", r.Name, r.Report.Entries(), humanBytes(r.Report.ContentBytes))
				if len(r.Report.NotRestored) > 0 {
					fmt.Fprintf(w, "  not restored: %s (see -o json for the list)\n", r.Report.Summary())
				}
			}
			fmt.Fprintf(w, "extracted %s into %s\n", a[0], a[1])
			return nil
		},
	}
	cmd.Flags().BoolVar(&deployable, "deployable", false, "refuse an archive that is not deployable")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "do not restore owners nor create device nodes (implied when not root)")
	return cmd
}
