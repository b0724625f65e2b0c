package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/bytesize"
)

// deriveFlags are the inputs of `archive derive`, as given on the command line.
type deriveFlags struct {
	base, typ, group, nodesFile, loadFile string
	files, scripts, clusterFiles, inputs  []string
	doubleReboot                          bool
}

func newArchiveDeriveCommand(f *archiveFlags) *cobra.Command {
	d := &deriveFlags{}
	cmd := &cobra.Command{
		Use:   "derive NAME --from BASE --type configured|deployable [flags]",
		Short: "Derive a configured or deployable archive from another",
		Long: `Derive makes a new archive that references the same binary section as its base and adds
or replaces the small sections: the configuration section (user files and install scripts, each
with a stage and an order) for a configured archive, plus the cluster section (cluster files and
the node table) and the software-load descriptor for a deployable one. A section given again
replaces the base's, it never stacks. Only the new small blobs are written.

  --file SRC:DEST[:MODE]          a user file placed at DEST on the node (MODE octal; default SRC's)
  --script SRC:STAGE:ORDER        an install script; STAGE is FirstBoot, BeforeServices or AfterServices
  --cluster-file SRC:DEST[:MODE]  a cluster file placed at DEST on the node
  --nodes FILE                    the node table, JSON: [{"name":"n1","id":1,"group":"web","addresses":["10.0.0.1"]}]
  --software-load FILE            the descriptor, JSON: {"cluster":"prod","domain":7,"groups":[{"name":"web","archive":"sha256:…","nodes":["n1"]}]}

The last line printed is the new archive's manifest digest.`,
		Example: `  flarecast archive derive web-conf --from rhel9-base --type configured \
      --file ./app.conf:/etc/app.conf --script ./setup.sh:BeforeServices:10 --double-reboot
  flarecast archive derive web-prod --from web-conf --type deployable --group web \
      --software-load swl.json --nodes nodes.json --cluster-file ./hosts:/etc/hosts`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			opts, err := d.options(a[0])
			if err != nil {
				return err
			}
			store, err := f.openExisting(cmd.Context())
			if err != nil {
				return err
			}
			defer store.Close()
			res, err := archive.Derive(cmd.Context(), store, opts)
			if err != nil {
				return err
			}
			if f.json() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"name": a[0], "type": opts.Type, "descriptor": res.Descriptor, "base": res.Base, "written": res.Written})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "derived %s archive %s from %s (%s)\n", opts.Type, a[0], d.base, shortDigest(res.Base.Digest))
			fmt.Fprintf(w, "  wrote %d new blobs, %s\n", res.Written.Blobs, bytesize.Format(res.Written.Bytes))
			_, err = fmt.Fprintln(w, res.Descriptor.Digest)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&d.base, "from", "", "base archive: a name or a manifest digest")
	fl.StringVar(&d.typ, "type", "", "Configured or Deployable")
	fl.StringArrayVar(&d.files, "file", nil, "user file SRC:DEST[:MODE] (repeatable)")
	fl.StringArrayVar(&d.scripts, "script", nil, "install script SRC:STAGE:ORDER (repeatable)")
	fl.BoolVar(&d.doubleReboot, "double-reboot", false, "reboot once more after the BeforeServices stage")
	fl.StringArrayVar(&d.clusterFiles, "cluster-file", nil, "cluster file SRC:DEST[:MODE] (repeatable; deployable)")
	fl.StringVar(&d.nodesFile, "nodes", "", "node table, JSON (deployable)")
	fl.StringVar(&d.loadFile, "software-load", "", "software-load descriptor, JSON (deployable)")
	fl.StringVar(&d.group, "group", "", "nodes group the deployable archive is for")
	fl.StringArrayVar(&d.inputs, "input", nil, "creation input KEY=VALUE recorded in the config (repeatable)")
	return cmd
}

// options reads the files the flags name and turns them into what archive.Derive takes. The
// rules (what a configured or deployable archive needs) are checked by Derive, not here.
func (d *deriveFlags) options(name string) (archive.DeriveOptions, error) {
	t, err := archive.ParseType(d.typ)
	if err != nil {
		return archive.DeriveOptions{}, usageError(err)
	}
	if d.base == "" {
		return archive.DeriveOptions{}, usageError(fmt.Errorf("--from BASE is required"))
	}
	opts := archive.DeriveOptions{Base: d.base, Name: name, Type: t, NodesGroup: d.group}
	if opts.Inputs, err = parseInputs(d.inputs); err != nil {
		return opts, usageError(err)
	}
	if opts.Created, err = archive.CreatedFromEnv(); err != nil {
		return opts, usageError(err)
	}
	if len(d.files) > 0 || len(d.scripts) > 0 || d.doubleReboot {
		if opts.Configuration, err = d.configuration(); err != nil {
			return opts, err
		}
	}
	if t == archive.Deployable || len(d.clusterFiles) > 0 || d.nodesFile != "" || d.loadFile != "" {
		if opts.Cluster, err = d.cluster(); err != nil {
			return opts, err
		}
		if d.loadFile != "" {
			opts.SoftwareLoad = &archive.SoftwareLoadDescriptor{}
			if err := readJSONFile("--software-load", d.loadFile, opts.SoftwareLoad); err != nil {
				return opts, err
			}
		}
	}
	return opts, nil
}

func (d *deriveFlags) configuration() (*archive.Configuration, error) {
	c := &archive.Configuration{DoubleReboot: d.doubleReboot}
	var err error
	if c.Files, err = readFileSpecs("--file", d.files); err != nil {
		return nil, err
	}
	if c.Scripts, err = readScriptSpecs(d.scripts); err != nil {
		return nil, err
	}
	return c, nil
}

func (d *deriveFlags) cluster() (*archive.ClusterSection, error) {
	c := &archive.ClusterSection{}
	var err error
	if c.Files, err = readFileSpecs("--cluster-file", d.clusterFiles); err != nil {
		return nil, err
	}
	if d.nodesFile != "" {
		if err := readJSONFile("--nodes", d.nodesFile, &c.Nodes); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func readFileSpecs(flag string, specs []string) ([]archive.File, error) {
	var out []archive.File
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return nil, usageError(fmt.Errorf("%s %q: want SRC:DEST[:MODE]", flag, spec))
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, spec, err)
		}
		f := archive.File{Path: parts[1], Data: data}
		if len(parts) == 3 {
			m, err := strconv.ParseUint(parts[2], 8, 32)
			if err != nil {
				return nil, usageError(fmt.Errorf("%s %q: mode %q is not octal", flag, spec, parts[2]))
			}
			f.Mode = uint32(m)
		} else if fi, err := os.Stat(parts[0]); err == nil {
			f.Mode = uint32(fi.Mode().Perm())
		}
		out = append(out, f)
	}
	return out, nil
}

func readScriptSpecs(specs []string) ([]archive.Script, error) {
	var out []archive.Script
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) != 3 || parts[0] == "" {
			return nil, usageError(fmt.Errorf("--script %q: want SRC:STAGE:ORDER", spec))
		}
		stage, err := archive.ParseStage(parts[1])
		if err != nil {
			return nil, usageError(fmt.Errorf("--script %q: %w", spec, err))
		}
		order, err := strconv.Atoi(parts[2])
		if err != nil {
			return nil, usageError(fmt.Errorf("--script %q: order %q is not a number", spec, parts[2]))
		}
		data, err := os.ReadFile(parts[0])
		if err != nil {
			return nil, fmt.Errorf("--script %s: %w", spec, err)
		}
		out = append(out, archive.Script{Name: filepath.Base(parts[0]), Stage: stage, Order: order, Data: data})
	}
	return out, nil
}

func readJSONFile(flag, name string, v any) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return usageError(fmt.Errorf("%s %s: %w", flag, name, err))
	}
	// Decode stops after the first value: a second one or stray bytes mean a file that is not
	// what its writer meant (two requests concatenated, a bad edit).
	if _, err := dec.Token(); err != io.EOF {
		return usageError(fmt.Errorf("%s %s: more than one JSON value (offset %d); the file must hold exactly one", flag, name, dec.InputOffset()))
	}
	return nil
}
