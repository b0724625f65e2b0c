package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/bytesize"
)

func newArchiveExtractCommand(f *archiveFlags) *cobra.Command {
	var deployable, rootless, force bool
	cmd := &cobra.Command{
		Use:   "extract NAME|DIGEST DIR",
		Short: "Write an archive's root file system, with its sections applied, into a directory",
		Long: `Extract writes the binary section into DIR (created if missing), then applies the
configuration section and the cluster section on top: their files at their own paths, their
metadata under /var/lib/flarecast/configuration and /var/lib/flarecast/cluster. Nothing is
written outside DIR, whatever the archive holds. Each section is checked against its digest and
diffID while it is read. With --deployable the archive must be a deployable one (what a node
installs).

DIR may not be / nor a symlink (to / or to any other directory), since the archive would then
land over the host's own files or somewhere DIR does not name; such a DIR is refused before
anything is written, unless --force is given.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !force {
				if err := checkExtractDir(a[1]); err != nil {
					return err
				}
			}
			store, err := f.openReadOnly(cmd.Context())
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
				fmt.Fprintf(w, "%s: %d entries, %s of files\n", r.Name, r.Report.Entries(), bytesize.Format(r.Report.ContentBytes))
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
	cmd.Flags().BoolVar(&force, "force", false, "extract even when DIR is / or a symlink to / or to another directory: the archive then overwrites the files of the host's root or of the directory the symlink points at")
	return cmd
}

// checkExtractDir refuses a DIR that is the host's root or that symlinks lead elsewhere:
// "nothing is written outside DIR" holds only when DIR is the directory its name says. A DIR
// that does not exist yet is judged by the part of its path that does.
func checkExtractDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("extract: %s: %w", dir, err)
	}
	existing, rest := abs, ""
	for {
		if _, err := os.Lstat(existing); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = filepath.Dir(existing)
	}
	resolved, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return fmt.Errorf("extract: %s: %w", dir, err)
	}
	resolved = filepath.Join(resolved, rest)
	root := string(filepath.Separator)
	switch {
	case resolved == root && abs == root:
		return fmt.Errorf("extract: %s is the host's root directory; refusing to write over it (give --force to do so)", dir)
	case resolved == root:
		return fmt.Errorf("extract: %s is a symlink to the host's root directory; refusing to write over it (give --force to do so)", dir)
	case resolved != abs:
		return fmt.Errorf("extract: %s leads through a symlink to %s: the archive would land there, not in %s; give %s itself, or --force to write through the link", dir, resolved, dir, resolved)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return fmt.Errorf("extract: %s exists and is not a directory", dir)
	}
	return nil
}
