package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// buildOutcome is what --result holds: the result of a build, or the failure that stopped
// it when a bound or a check did (its reason is the FlashArchive's).
type buildOutcome struct {
	*build.Result
	Failure *build.Failure `json:"failure,omitempty"`
}

func newArchiveBuildCommand() *cobra.Command {
	var requestFile, resultFile, progressFile, workDir string
	cmd := &cobra.Command{
		Use:   "build --request FILE [--result FILE] [--progress FILE] [--work-dir DIR]",
		Short: "Build the archive a build request describes (what the manager's executors run)",
		Long: `Build reads a build request (JSON, written by the FlashArchive controller: the archive
to build, its inputs with every ConfigMap and template already resolved, the repository and the
name to tag, and the limits of the build) and builds it: a Generic archive from a rootfs tarball
checked against its digest, a Configured or Deployable one derived from its base's digest. The
request names its own repository; --repo is ignored. The result (manifest digest, sections,
sizes) is printed as JSON and, with --result, written atomically to FILE; a build a limit or a
check stopped writes its failure there instead ({"failure":{"reason":…,"message":…}}).

Downloads and spooled tar contents go under --work-dir (default: a directory "work" beside the
request file), in a directory removed when the build ends. With --progress, FILE says about
once a second how far the build has got ({"stage":…,"bytes":…,"total":…}).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requestFile == "" {
				return usageError(fmt.Errorf("--request FILE is required"))
			}
			var req build.Request
			if err := readJSONFile("--request", requestFile, &req); err != nil {
				return err
			}
			if workDir == "" {
				workDir = filepath.Join(filepath.Dir(requestFile), "work")
			}
			opts := build.Options{WorkDir: workDir}
			if progressFile != "" {
				opts.Progress = progressWriter(progressFile)
			}
			res, err := build.Run(cmd.Context(), &req, opts)
			if f, ok := build.AsFailure(err); ok && resultFile != "" {
				if werr := writeOutcome(resultFile, buildOutcome{Failure: f}); werr != nil {
					return fmt.Errorf("%w (and --result: %v)", err, werr)
				}
			}
			if err != nil {
				return err
			}
			if resultFile != "" {
				if err := writeOutcome(resultFile, buildOutcome{Result: res}); err != nil {
					return err
				}
			}
			return printJSON(cmd.OutOrStdout(), res)
		},
	}
	cmd.Flags().StringVar(&requestFile, "request", "", "build request, JSON")
	cmd.Flags().StringVar(&resultFile, "result", "", "where to write the result, JSON")
	cmd.Flags().StringVar(&progressFile, "progress", "", "where to write the build's progress, JSON")
	cmd.Flags().StringVar(&workDir, "work-dir", "", "where downloads and spooled contents go while the build runs")
	return cmd
}

func writeOutcome(file string, o buildOutcome) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(file, b, 0o644); err != nil {
		return fmt.Errorf("--result: %w", err)
	}
	return nil
}

// progressWriter writes the latest progress to file at most once a second: a reader (the
// executor) sees whole documents, since each replaces the last by a rename; they need not
// survive a crash, so they are not synced.
func progressWriter(file string) func(build.Progress) {
	var last time.Time
	var stage string
	return func(p build.Progress) {
		if p.Stage == stage && time.Since(last) < time.Second {
			return
		}
		last, stage = time.Now(), p.Stage
		b, _ := json.Marshal(p)
		tmp := file + ".tmp"
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, file)
		}
	}
}
