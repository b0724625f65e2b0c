package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/executor/build"
)

func newArchiveBuildCommand() *cobra.Command {
	var requestFile, resultFile string
	cmd := &cobra.Command{
		Use:   "build --request FILE [--result FILE]",
		Short: "Build the archive a build request describes (what the manager's executors run)",
		Long: `Build reads a build request (JSON, written by the FlashArchive controller: the archive
to build, its inputs with every ConfigMap and template already resolved, the repository and the
name to tag) and builds it: a Generic archive from a rootfs tarball checked against its digest,
a Configured or Deployable one derived from its base's digest. The request names its own
repository; --repo is ignored. The result (manifest digest, sections, sizes) is printed as JSON
and, with --result, written atomically to FILE.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requestFile == "" {
				return usageError(fmt.Errorf("--request FILE is required"))
			}
			var req build.Request
			if err := readJSONFile("--request", requestFile, &req); err != nil {
				return err
			}
			res, err := build.Run(cmd.Context(), &req, build.Options{})
			if err != nil {
				return err
			}
			if resultFile != "" {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				if err := atomicfile.WriteBytes(resultFile, b, 0o644); err != nil {
					return fmt.Errorf("--result: %w", err)
				}
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&requestFile, "request", "", "build request, JSON")
	cmd.Flags().StringVar(&resultFile, "result", "", "where to write the result, JSON")
	return cmd
}
