package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive/flar"
	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/bytesize"
	"github.com/flarecast/flarecast/internal/repository"
)

func newArchiveExportCommand(f *archiveFlags) *cobra.Command {
	var file string
	var load bool
	cmd := &cobra.Command{
		Use:   "export (NAME|DIGEST)... --file FILE|-",
		Short: "Write archives to one self-describing file, for a site that shares no registry",
		Long: `Export writes one or more archives (a whole software load, say) as a single file: a text
header that names the archives (by the name each one's config records, which import gives it)
and lists every section with its media type, size and sha256 digest, then the sections. A blob shared by several archives is written once. See
docs/archive-format.md. With --software-load the archives must be the deployable archives of
one software load.`,
		Example: `  flarecast archive export web-prod db-prod --software-load --file prod.flar
  flarecast archive export rhel9-base --file - | ssh site2 flarecast archive import -`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, refs []string) error {
			if file == "" {
				return usageError(fmt.Errorf("--file FILE (or - for stdout) is required"))
			}
			if file == "-" && stdoutIsTerminal(cmd) {
				return usageError(fmt.Errorf("refusing to write an export file to a terminal; redirect stdout or give --file FILE"))
			}
			store, err := f.openReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			var h *flar.Header
			write := func(w io.Writer) error {
				bar := newProgress(cmd, -1, "exporting")
				defer bar.finish()
				var err error
				h, err = flar.Export(cmd.Context(), store, w, refs, flar.ExportOptions{SoftwareLoad: load, Progress: bar.set})
				return err
			}
			if file == "-" {
				bw := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
				if err := write(bw); err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("export: write: %w", err)
				}
			} else if err := atomicfile.Write(file, 0o644, write); err != nil {
				return err
			}
			msg := cmd.ErrOrStderr()
			if file != "-" {
				msg = cmd.OutOrStdout()
			}
			if f.json() && file != "-" {
				return printJSON(msg, headerJSON(h))
			}
			fmt.Fprintf(msg, "exported %d archives, %d sections, %s to %s\n", len(h.Archives), len(h.Sections), bytesize.Format(h.TotalSize()), file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "export file to write (- for stdout)")
	cmd.Flags().BoolVar(&load, "software-load", false, "require the deployable archives of one software load and record it")
	return cmd
}

func stdoutIsTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.OutOrStdout().(*os.File)
	return ok && isTerminal(f)
}

func headerJSON(h *flar.Header) map[string]any {
	type arch struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Digest string `json:"digest"`
	}
	var as []arch
	for _, a := range h.Archives {
		as = append(as, arch{a.Tag, string(a.Type), a.Digest.String()})
	}
	out := map[string]any{"archives": as, "sections": len(h.Sections), "bytes": h.TotalSize()}
	if h.SoftwareLoad != nil {
		out["softwareLoad"] = map[string]string{"cluster": h.SoftwareLoad.Cluster, "digest": h.SoftwareLoad.Digest.String()}
	}
	return out
}

func newArchiveImportCommand(f *archiveFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE|-",
		Short: "Read an export file into the repository, verifying every section",
		Long: `Import reads an export file, checks every section against the digest its header gives
(and the tar inside against its diffID) while streaming it into the repository, and names the
archives only once everything has been verified, each after the name its verified config
records. A damaged or truncated file, or a header whose names or types disagree with the
configs, is refused with a message naming the section or the archive, and the repository is
left as it was.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			in := cmd.InOrStdin()
			if a[0] != "-" {
				fh, err := os.Open(a[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer fh.Close()
				in = fh
			}
			store, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			bar := newProgress(cmd, -1, "importing")
			res, err := flar.Import(cmd.Context(), store, bufio.NewReaderSize(in, 1<<20), flar.ImportOptions{Progress: bar.set})
			bar.finish()
			if err != nil {
				return err
			}
			if f.json() {
				out := headerJSON(res.Header)
				out["stored"], out["present"], out["storedBytes"] = res.Stored, res.Present, res.StoredBytes
				return printJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "imported %d archives into %s (%d blobs stored, %s; %d already there), every section verified\n",
				len(res.Header.Archives), f.repo, res.Stored, bytesize.Format(res.StoredBytes), res.Present)
			for _, a := range res.Header.Archives {
				fmt.Fprintf(w, "  %s\t%s\t%s\n", a.Tag, a.Type, a.Digest)
			}
			return nil
		},
	}
}

func newArchivePushCommand(f *archiveFlags) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "push NAME DESTINATION",
		Short: "Copy an archive to another repository (a directory or oci://host/repository)",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			src, err := f.openReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openStore(cmd.Context(), a[1])
			if err != nil {
				return err
			}
			defer dst.Close()
			return copyArchive(cmd, f, src, dst, a[0], as, a[1])
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "name in the destination (default: the same)")
	return cmd
}

func newArchivePullCommand(f *archiveFlags) *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "pull SOURCE NAME",
		Short: "Copy an archive from another repository (a directory or oci://host/repository) into --repo",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			dst, err := f.open(cmd.Context())
			if err != nil {
				return err
			}
			defer dst.Close()
			src, err := openReadOnlyStore(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			defer src.Close()
			return copyArchive(cmd, f, src, dst, a[1], as, f.repo)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "name in --repo (default: the same)")
	return cmd
}

func copyArchive(cmd *cobra.Command, f *archiveFlags, src, dst repository.Store, name, as, where string) error {
	desc, err := repository.Copy(cmd.Context(), src, dst, name, as)
	if err != nil {
		return err
	}
	if as == "" {
		as = name
	}
	if f.json() {
		return printJSON(cmd.OutOrStdout(), map[string]any{"name": as, "descriptor": desc, "repository": where})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s as %s\n%s\n", name, where, as, desc.Digest)
	return nil
}

func newArchiveGCCommand(f *archiveFlags) *cobra.Command {
	var dry bool
	var grace time.Duration
	var stateDir string
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove the blobs no named archive reaches",
		Long: `GC removes the blobs that no named archive reaches (sections of a configuration that was
replaced, archives that were renamed away, an interrupted import's leftovers), and the temp files
of writers that died mid-write. Blobs and temp files younger than --grace are spared: another
writer may have stored them and not yet named its archive. With --dry-run it only reports, and
leaves the repository exactly as it was, as every command that only reads does.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.checkOutput(); err != nil {
				return err
			}
			if err := mustExist(f.repo); err != nil {
				return err
			}
			// A dry run only reads: it must leave the repository exactly as it was.
			opts := repository.Options{GCGrace: grace, ReadOnly: dry}
			if grace <= 0 {
				opts.GCGrace = -1 // the store reads zero as "the default"
			}
			store, err := repository.Open(cmd.Context(), f.repo, opts)
			if err != nil {
				return err
			}
			defer store.Close()
			rep, err := store.GC(cmd.Context(), dry)
			if err != nil {
				return err
			}
			if stateDir != "" {
				return gcBuildLeftovers(cmd, f, stateDir, dry, rep)
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			verb := "removed"
			if dry {
				verb = "would remove"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %d blobs (%s) and %d temp files of writers that died; %d blobs kept\n",
				verb, len(rep.Removed), bytesize.Format(rep.BytesRemoved), rep.TempFiles, rep.Kept)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only report what would be removed")
	cmd.Flags().DurationVar(&grace, "grace", repository.DefaultGCGrace, "spare unreachable blobs younger than this (0: none)")
	cmd.Flags().StringVar(&stateDir, "executor-state-dir", "", "also report and remove what builds left in this local executor state directory")
	return cmd
}
