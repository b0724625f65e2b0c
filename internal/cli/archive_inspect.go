package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/bytesize"
)

func newArchiveInfoCommand(f *archiveFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "info NAME|DIGEST",
		Short: "Show an archive's identification, sections and lineage",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			store, err := f.openReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			info, err := archive.Inspect(cmd.Context(), store, a[0])
			if err != nil {
				return err
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), info)
			}
			return printInfo(cmd.OutOrStdout(), info)
		},
	}
}

func printInfo(out io.Writer, info *archive.Info) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Name:\t%s\n", info.Name)
	fmt.Fprintf(w, "Type:\t%s\n", info.Type)
	fmt.Fprintf(w, "Digest:\t%s\n", info.Digest)
	fmt.Fprintf(w, "Platform:\t%s/%s\n", info.OS, info.Architecture)
	if info.Created != nil {
		fmt.Fprintf(w, "Created:\t%s\n", info.Created.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Flarecast:\t%s\n", info.FlarecastVersion)
	fmt.Fprintf(w, "Size:\t%s (%d bytes)\n", bytesize.Format(info.Size), info.Size)
	for k, v := range sortedMap(info.Inputs) {
		fmt.Fprintf(w, "Input:\t%s=%s\n", k, v)
	}
	if len(info.Lineage) > 0 {
		var chain []string
		for _, l := range info.Lineage {
			label := shortDigest(l.Digest)
			if len(l.Names) > 0 || l.Type != "" {
				label += fmt.Sprintf(" (%s)", strings.TrimSpace(strings.Join(l.Names, ",")+" "+string(l.Type)))
			}
			chain = append(chain, label)
		}
		chain = append(chain, fmt.Sprintf("%s (%s %s)", shortDigest(info.Digest), info.Name, info.Type))
		fmt.Fprintf(w, "Lineage:\t%s\n", strings.Join(chain, " ← "))
	}
	if info.SoftwareLoad != nil {
		fmt.Fprintf(w, "Software load:\tcluster %s, domain %d, descriptor %s\n", info.SoftwareLoad.Cluster, info.SoftwareLoad.Domain, info.SoftwareLoadDigest)
		fmt.Fprintf(w, "Nodes group:\t%s\n", info.NodesGroup)
		for _, g := range info.SoftwareLoad.Groups {
			fmt.Fprintf(w, "  group %s:\truns %s on %s\n", g.Name, shortDigest(g.Archive), strings.Join(g.Nodes, ", "))
		}
	}
	fmt.Fprintf(w, "\nSECTION\tMEDIA TYPE\tSIZE\tDIGEST\n")
	fmt.Fprintf(w, "config\t%s\t%d\t%s\n", info.Config.MediaType, info.Config.Size, info.Config.Digest)
	for _, s := range info.Sections {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", s.Name, s.MediaType, s.Size, s.Digest)
	}
	return w.Flush()
}

func sortedMap(m map[string]string) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

func newArchiveListCommand(f *archiveFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the archives of the repository",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := f.openReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			entries, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			noteAbandonedTemps(cmd, store)
			type row struct {
				Name   string       `json:"name"`
				Type   archive.Type `json:"type,omitempty"`
				Digest string       `json:"digest"`
				Size   int64        `json:"size"`
				Error  string       `json:"error,omitempty"`
			}
			rows := []row{}
			for _, e := range entries {
				r := row{Name: e.Name, Digest: e.Descriptor.Digest.String()}
				if a, err := archive.LoadDescriptor(cmd.Context(), store, e.Descriptor); err != nil {
					r.Error = err.Error()
				} else {
					r.Type, r.Size = a.Config.Type, a.TotalSize()
				}
				rows = append(rows, r)
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTYPE\tDIGEST\tSIZE")
			for _, r := range rows {
				if r.Error != "" {
					fmt.Fprintf(w, "%s\t?\t%s\t%s\n", r.Name, shortDigest(stringer(r.Digest)), r.Error)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Name, r.Type, shortDigest(stringer(r.Digest)), bytesize.Format(r.Size))
			}
			return w.Flush()
		},
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

func newArchiveVerifyCommand(f *archiveFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "verify (NAME|DIGEST)... | --all",
		Short: "Read every byte of archives and check every digest",
		Long: `Verify reads the manifest, the config and every section of each archive and checks them
against their digests, and the tar inside each section against the diffID its config records.
Exit status 1 when any archive has a fault; the message names the archive and the section.`,
		Args: args(func(cmd *cobra.Command, a []string) error {
			if all == (len(a) > 0) {
				return fmt.Errorf("give archive names or --all, not both nor neither")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, refs []string) error {
			store, err := f.openReadOnly(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			if all {
				entries, err := store.List(cmd.Context())
				if err != nil {
					return err
				}
				for _, e := range entries {
					refs = append(refs, e.Name)
				}
			}
			type result struct {
				Archive string             `json:"archive"`
				OK      bool               `json:"ok"`
				Blobs   []archive.Verified `json:"blobs,omitempty"`
				Error   string             `json:"error,omitempty"`
			}
			results := []result{}
			failed := 0
			for _, ref := range refs {
				bar := newProgress(cmd, -1, "verifying "+ref)
				blobs, err := archive.Verify(cmd.Context(), store, ref, archive.VerifyOptions{Progress: bar.set})
				bar.finish()
				r := result{Archive: ref, OK: err == nil, Blobs: blobs}
				if err != nil {
					r.Error = err.Error()
					failed++
				}
				results = append(results, r)
				if !f.json() {
					if err != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: FAULT: %s\n", ref, r.Error)
						continue
					}
					var n int64
					for _, b := range blobs {
						n += b.Size
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d blobs, %s, every digest and diffID checked)\n", ref, len(blobs), bytesize.Format(n))
				}
			}
			if f.json() {
				if err := printJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			}
			if failed > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d archives failed verification", failed, len(refs))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "verify every archive of the repository")
	return cmd
}
