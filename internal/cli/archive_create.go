package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/bytesize"
	"github.com/flarecast/flarecast/internal/tarball"
)

func newArchiveCreateCommand(f *archiveFlags) *cobra.Command {
	var (
		fromDir, fromTar string
		arch, osName     string
		inputs           []string
		level            int
	)
	cmd := &cobra.Command{
		Use:   "create NAME (--from DIR | --from-tar FILE|-)",
		Short: "Create a generic archive from a root file system",
		Long: `Create packs a root file system, a directory or an uncompressed tar stream, into the
binary section of a new generic archive and names it NAME. Entries are sorted and normalized,
and their times set from $SOURCE_DATE_EPOCH (1970 when unset), so the same tree gives the same
digest. The last line printed is the archive's manifest digest. A source with nothing in it but
its root directory (an empty directory, an empty tar stream) is refused, as GNU tar refuses to
create an empty archive: it makes no archive and exits 1.`,
		Example: `  flarecast archive create rhel9-base --from ./rootfs
  tar -C rootfs -c . | flarecast archive create rhel9-base --from-tar -`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if (fromDir == "") == (fromTar == "") {
				return usageError(fmt.Errorf("give exactly one of --from DIR and --from-tar FILE|-"))
			}
			in, err := parseInputs(inputs)
			if err != nil {
				return usageError(err)
			}
			created, err := archive.CreatedFromEnv()
			if err != nil {
				return usageError(err)
			}
			var src tarball.Source
			total := int64(-1)
			switch {
			case fromDir != "":
				if fi, err := os.Stat(fromDir); err != nil || !fi.IsDir() {
					return fmt.Errorf("--from %s: not a directory", fromDir)
				}
				src = tarball.DirSource(fromDir)
				if stderrIsTerminal(cmd) {
					total = treeSize(fromDir)
				}
			case fromTar == "-":
				src = tarball.TarSource(cmd.InOrStdin())
			default:
				fh, err := os.Open(fromTar)
				if err != nil {
					return fmt.Errorf("--from-tar: %w", err)
				}
				defer fh.Close()
				src = tarball.TarSource(fh)
			}
			store, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			bar := newProgress(cmd, total, "packing")
			desc, stats, err := archive.Create(cmd.Context(), store, src, archive.CreateOptions{
				Name: a[0], Architecture: arch, OS: osName, Inputs: in, Created: created, Level: level, Progress: bar.add,
			})
			bar.finish()
			if err != nil {
				return err
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"name": a[0], "descriptor": desc, "stats": stats})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "created generic archive %s in %s\n", a[0], f.repo)
			fmt.Fprintf(w, "  %d entries, %s of files, %s compressed\n", stats.Entries(), bytesize.Format(stats.ContentBytes), bytesize.Format(stats.OutputBytes))
			if stats.SkippedSockets > 0 {
				fmt.Fprintf(w, "  skipped %d sockets (a tar cannot hold them): %s\n", stats.SkippedSockets, strings.Join(stats.SkippedSocketPaths, ", "))
			}
			_, err = fmt.Fprintln(w, desc.Digest)
			return err
		},
	}
	cmd.Flags().StringVar(&fromDir, "from", "", "root file system directory")
	cmd.Flags().StringVar(&fromTar, "from-tar", "", "uncompressed tar of the root file system (- for stdin)")
	cmd.Flags().StringVar(&arch, "arch", runtime.GOARCH, "architecture of the image (OCI names: amd64, arm64…)")
	cmd.Flags().StringVar(&osName, "os", "linux", "operating system of the image")
	cmd.Flags().StringArrayVar(&inputs, "input", nil, "creation input KEY=VALUE recorded in the config (repeatable)")
	cmd.Flags().IntVar(&level, "level", 0, "zstd level 1-22 (default: the packer's)")
	return cmd
}

func parseInputs(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--input %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// treeSize sums the regular files under dir, for the progress bar only: a failure to read a
// part of the tree just makes the estimate low (Pack reports the real error).
func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
