package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/atomicfile"
	"github.com/flarecast/flarecast/internal/bytesize"
	"github.com/flarecast/flarecast/internal/initramfs"
)

func newInitramfsCommand() *cobra.Command {
	cmd := asGroup(&cobra.Command{
		Use:   "initramfs",
		Short: "Build the install environment nodes boot over the network",
	})
	cmd.AddCommand(newInitramfsBuildCommand())
	return cmd
}

func newInitramfsBuildCommand() *cobra.Command {
	var (
		s        initramfs.Spec
		out      string
		cacheDir string
		comp     string
	)
	cmd := &cobra.Command{
		Use:   "build --init PROGRAM (--out FILE | --cache-dir DIR)",
		Short: "Build an initramfs: PROGRAM as /init, busybox, the node's kernel modules and disk tools",
		Long: `Build writes a compressed newc cpio for the install server to serve with the deploy
kernel (flarecast installserver --kernel K --initramfs FILE): PROGRAM (the agent) as /init, a
static busybox with its applet links, the kernel modules a node needs for its disks and network
with everything they depend on (in load order, listed in /` + initramfs.ModuleLoadList + `), and
the disk tools with their shared libraries.

The same inputs give the same bytes. With --cache-dir the image is kept there under the digest
of its inputs and built only when that digest is new; --out then gets a copy. A module that the
kernel tree has neither as a file nor built in is an error naming it.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s.Init == "" {
				return usageError(errors.New("--init is required"))
			}
			if out == "" && cacheDir == "" {
				return usageError(errors.New("give --out FILE, --cache-dir DIR, or both"))
			}
			s.Compression = initramfs.Compression(comp)
			if !cmd.Flags().Changed("module") {
				s.Modules = nil
			}
			if !cmd.Flags().Changed("tool") {
				s.Tools = nil
			}
			var r *initramfs.Result
			var err error
			if cacheDir != "" {
				if r, err = initramfs.Build(s, cacheDir); err != nil {
					return err
				}
				if out != "" {
					if err := copyFile(r.Path, out); err != nil {
						return err
					}
				}
			} else {
				err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
					var werr error
					r, werr = initramfs.Write(w, s)
					return werr
				})
				if err != nil {
					return err
				}
			}
			where := r.Path
			if out != "" {
				where = out
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "initramfs %s: %s, kernel %s, %d modules", where, bytesize.Format(r.Size), r.KernelVersion, len(r.Modules))
			if len(r.Builtin) > 0 {
				fmt.Fprintf(w, " (built in: %s)", strings.Join(r.Builtin, ", "))
			}
			fmt.Fprintln(w)
			if r.Cached {
				fmt.Fprintf(w, "from the cache: %s\n", r.Path)
			}
			fmt.Fprintf(w, "inputs %s\n", r.Digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Init, "init", "", "the program the node runs as /init (the agent)")
	f.StringVar(&s.KernelVersion, "kernel-version", "", "the kernel whose modules go in (default: the only one under --modules-dir)")
	f.StringVar(&s.ModulesDir, "modules-dir", "/lib/modules", "where the kernels' module trees are")
	f.StringSliceVar(&s.Modules, "module", nil, "modules to include, replacing the default list ("+strings.Join(initramfs.DefaultModules, ",")+")")
	f.StringSliceVar(&s.Tools, "tool", nil, "tools to include, by name or absolute path, replacing the default list ("+strings.Join(initramfs.DefaultTools, ",")+")")
	f.StringVar(&s.Busybox, "busybox", "/bin/busybox", "a static busybox")
	f.StringVar(&comp, "compression", string(initramfs.Zstd), "zstd or gzip")
	f.StringVar(&out, "out", "", "write the image to this file")
	f.StringVar(&cacheDir, "cache-dir", "", "keep images here by the digest of their inputs, and reuse them")
	return cmd
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}
