package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/bytesize"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/repository"
)

// gcBuildLeftovers is `archive gc --executor-state-dir DIR`: beside the repository's blobs, it
// reports (and, without --dry-run, removes) what builds left in a local executor's state
// directory — requests, progress files and work directories (downloads, spool) of jobs no
// process runs — and prints both reports.
func gcBuildLeftovers(cmd *cobra.Command, f *archiveFlags, dir string, dry bool, blobs repository.GCReport) error {
	if err := mustExist(dir); err != nil {
		return err
	}
	left, err := executor.Leftovers(dir, dry)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(cmd.OutOrStdout(), struct {
			Blobs          repository.GCReport `json:"blobs"`
			BuildLeftovers []executor.Leftover `json:"buildLeftovers"`
		}{blobs, append([]executor.Leftover{}, left...)})
	}
	verb := "removed"
	if dry {
		verb = "would remove"
	}
	var n int64
	for _, l := range left {
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s)\n", verb, l.Path, bytesize.Format(l.Bytes))
		n += l.Bytes
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %d blobs (%s); %d kept\n", verb, len(blobs.Removed), bytesize.Format(blobs.BytesRemoved), blobs.Kept)
	fmt.Fprintf(cmd.OutOrStdout(), "%s %d build leftovers (%s) in %s\n", verb, len(left), bytesize.Format(n), dir)
	return nil
}
