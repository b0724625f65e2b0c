package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flarecast/flarecast/internal/repository"
)

// DefaultRepo is the store the archive commands use without --repo or $FLARECAST_REPO.
const DefaultRepo = "./flarecast-repo"

// archiveFlags are the flags every archive subcommand shares.
type archiveFlags struct {
	repo   string
	output string
}

func newArchiveCommand() *cobra.Command {
	f := &archiveFlags{}
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Create, derive, inspect, verify and move flash archives",
		Long: `Flash archives are OCI artifacts in a repository: an OCI image layout in a directory,
or a repository of an OCI registry (oci://host[:port]/repository).

Exit status: 0 on success, 1 when the operation failed or found a fault, 2 on a usage error.`,
	}
	repo := os.Getenv("FLARECAST_REPO")
	if repo == "" {
		repo = DefaultRepo
	}
	cmd.PersistentFlags().StringVar(&f.repo, "repo", repo, "repository: a directory or oci://host[:port]/repository ($FLARECAST_REPO sets the default)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(
		newArchiveCreateCommand(f),
		newArchiveDeriveCommand(f),
		newArchiveInfoCommand(f),
		newArchiveListCommand(f),
		newArchiveVerifyCommand(f),
		newArchiveExtractCommand(f),
		newArchiveExportCommand(f),
		newArchiveImportCommand(f),
		newArchivePushCommand(f),
		newArchivePullCommand(f),
		newArchiveGCCommand(f),
		newArchiveBuildCommand(),
		newArchiveShellCommand(),
	)
	return asGroup(cmd)
}

// open checks the shared flags and opens the repository, creating it when it is a directory
// that is not there yet: for the commands that store archives.
func (f *archiveFlags) open(ctx context.Context) (repository.Store, error) {
	if err := f.checkOutput(); err != nil {
		return nil, err
	}
	return openStore(ctx, f.repo)
}

// openExisting is open for the commands that need archives already in the repository.
func (f *archiveFlags) openExisting(ctx context.Context) (repository.Store, error) {
	if err := f.checkOutput(); err != nil {
		return nil, err
	}
	if err := mustExist(f.repo); err != nil {
		return nil, err
	}
	return openStore(ctx, f.repo)
}

// openReadOnly is open for the commands that only read the repository. They open it
// read-only, so that they leave it exactly as it was: no lock file made, no crashed writer's
// temp file removed (that is gc's business).
func (f *archiveFlags) openReadOnly(ctx context.Context) (repository.Store, error) {
	if err := f.checkOutput(); err != nil {
		return nil, err
	}
	return openReadOnlyStore(ctx, f.repo)
}

// openReadOnlyStore refuses a directory that is not there: to a reader it is a mistyped
// location (or the default ./flarecast-repo in the wrong directory), not a new empty
// repository to create and report empty.
func openReadOnlyStore(ctx context.Context, location string) (repository.Store, error) {
	if err := mustExist(location); err != nil {
		return nil, err
	}
	return repository.Open(ctx, location, repository.Options{ReadOnly: true})
}

// noteAbandonedTemps tells a reader of a local store about the temp files writers that died
// left in it, which only gc removes. It never fails the command it rides on.
func noteAbandonedTemps(cmd *cobra.Command, store repository.Store) {
	l, ok := store.(*repository.Local)
	if !ok {
		return
	}
	if n, err := l.AbandonedTempFiles(); err == nil && n > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s holds %d temp files of writers that died mid-write; `flarecast archive gc` removes them\n", l.Root(), n)
	}
}

func mustExist(location string) error {
	if strings.Contains(location, "://") {
		return nil // a registry, or a scheme Open explains
	}
	if _, err := os.Stat(location); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("repository %s does not exist; check --repo (or $FLARECAST_REPO), or store an archive there first (archive create, import or pull)", location)
	}
	return nil
}

func openStore(ctx context.Context, location string) (repository.Store, error) {
	// The store's errors name the location already, without credentials a user put in it.
	return repository.Open(ctx, location, repository.Options{})
}

func (f *archiveFlags) checkOutput() error {
	if f.output != "text" && f.output != "json" {
		return usageError(fmt.Errorf("--output %q: want text or json", f.output))
	}
	return nil
}

func (f *archiveFlags) json() bool { return f.output == "json" }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func usageError(err error) error { return &ExitError{Code: 2, Err: err} }

// args wraps a cobra argument check so that a wrong count exits 2 and shows the usage line.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError(fmt.Errorf("%w\nusage: %s", err, cmd.UseLine()))
		}
		return nil
	}
}

func shortDigest(d fmt.Stringer) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}
