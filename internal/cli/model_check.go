package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	crd "github.com/flarecast/flarecast/config/crd"
	"github.com/flarecast/flarecast/internal/crdvalidate"
	"github.com/flarecast/flarecast/internal/model/check"
	"github.com/flarecast/flarecast/internal/model/manifest"
)

type modelCheckOptions struct {
	files           []string
	output          string
	requireComplete bool
}

func newModelCheckCommand() *cobra.Command {
	o := &modelCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check -f DIR|FILE|- ...",
		Short: "Check manifests offline: the API server's schema and CEL rules, then the model's rules",
		Long: `check reads flarecast manifests (YAML, several documents per file, or JSON; directories
recursively; - for standard input), admits each object as the API server would (unknown fields,
defaults, OpenAPI schema, CEL rules), then resolves the model of every Cluster with its
NodesGroups, Machine and Network, and checks each FlashArchive against its base and the
NodesGroups that name it in spec.archiveRef (type, base, arch), with the reasons and messages
of the FlashArchive controller.

A document may be at most 3 MiB, the most the API server takes in one request: a larger one
(or an endless stream such as /dev/zero) is refused as soon as it passes the bound, and the
rest of its file is not read.

It exits 0 when nothing is wrong (warnings and the parts a partial model lacks are printed),
1 with one line per problem: "file: Kind/name: field: message".`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "a manifest file, a directory, or - for standard input (repeatable)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&o.requireComplete, "require-complete", false, "fail when the model is partial, not only when it is wrong")
	return cmd
}

func (o *modelCheckOptions) run(cmd *cobra.Command) error {
	if len(o.files) == 0 {
		return &ExitError{Code: 2, Err: errors.New("model check: give at least one -f FILE|DIR|-")}
	}
	if o.output != "text" && o.output != "json" {
		return &ExitError{Code: 2, Err: fmt.Errorf("model check: -o %q: want text or json", o.output)}
	}
	v, err := crdvalidate.Load(crd.Bases, "bases")
	if err != nil {
		return fmt.Errorf("model check: load CRDs: %w", err)
	}
	objs, readErrs := manifest.Read(o.files, cmd.InOrStdin())
	report := check.Check(cmd.Context(), objs, v)
	// Unreadable documents come first, in reading order, prepended once: prepending each one
	// copied every finding once per unreadable document.
	var unreadable []check.Finding
	for _, err := range readErrs {
		f := check.Finding{Message: err.Error(), Severity: check.SeverityError}
		var me *manifest.Error
		if errors.As(err, &me) {
			f.File, f.Message = me.File, me.Err.Error()
			if me.Doc > 0 {
				f.Message = fmt.Sprintf("document %d: %s", me.Doc, f.Message)
			}
		}
		unreadable = append(unreadable, f)
	}
	report.Findings = append(unreadable, report.Findings...)
	stderr := cmd.ErrOrStderr()
	for _, ig := range report.Ignored {
		fmt.Fprintf(stderr, "%s: ignoring %s %s/%s: not a flarecast.io kind\n", ig.File, ig.GVK().GroupVersion(), ig.GVK().Kind, ig.Name())
	}
	if err := o.print(cmd.OutOrStdout(), report.Findings); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "checked %d objects: errors %d, warnings %d, missing %d\n", report.Checked,
		report.Count(check.SeverityError), report.Count(check.SeverityWarning), report.Count(check.SeverityMissing))
	if report.Failed(o.requireComplete) {
		return &ExitError{Code: 1}
	}
	return nil
}

func (o *modelCheckOptions) print(w io.Writer, findings []check.Finding) error {
	if o.output == "json" {
		if findings == nil {
			findings = []check.Finding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(findings)
	}
	for _, f := range findings {
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
	}
	return nil
}
