package archive

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// ExtractOptions tunes Extract.
type ExtractOptions struct {
	// RequireDeployable refuses an archive that is not Deployable: what installing on a node
	// needs, since only a deployable archive carries the cluster section.
	RequireDeployable bool
	// Rootless extracts as an unprivileged user would (owners and device nodes are reported,
	// not restored).
	Rootless bool
	// Progress is called with the number of file-content bytes written.
	Progress func(n int64)
}

// SectionReport is what extracting one section did.
type SectionReport struct {
	Name   string                `json:"name"`
	Report tarball.ExtractReport `json:"report"`
}

// ErrNotDeployable is returned by Extract with RequireDeployable and by CheckDeployable.
var ErrNotDeployable = fmt.Errorf("not deployable")

// CheckDeployable says whether a is an archive that can be installed on a node.
func CheckDeployable(a *Archive) error {
	switch a.Config.Type {
	case Deployable:
		return nil
	case Generic:
		return fmt.Errorf("%s is a Generic archive: generic archives are never deployable; derive a Deployable archive from it for a nodes group of a cluster: %w", a.Config.Name, ErrNotDeployable)
	default:
		return fmt.Errorf("%s is a %s archive, not a Deployable one; derive a Deployable archive from it for a nodes group of a cluster: %w", a.Config.Name, a.Config.Type, ErrNotDeployable)
	}
}

// Extract writes the archive ref names into dir, which must exist: the binary section (the
// root file system), then the configuration section and the cluster section on top of it.
// Those place their files at their own paths and their metadata under ConfigurationDir and
// ClusterDir (see docs/archive-format.md). Each section's tar is checked against its diffID as
// it is read, and its bytes against their digest.
func Extract(ctx context.Context, store repository.Store, ref, dir string, opts ExtractOptions) ([]SectionReport, error) {
	a, err := Load(ctx, store, ref)
	if err != nil {
		return nil, err
	}
	if opts.RequireDeployable {
		if err := CheckDeployable(a); err != nil {
			return nil, err
		}
	}
	var out []SectionReport
	for _, s := range Sections(a.Manifest) {
		rep, err := extractSection(ctx, store, s, dir, a.Config.DiffIDs[s.Name], a.Config.TarSizes[s.Name], opts)
		if err != nil {
			return out, fmt.Errorf("extract %s: section %s (%s): %w", ref, s.Name, s.Descriptor.Digest, err)
		}
		out = append(out, SectionReport{Name: s.Name, Report: rep})
	}
	return out, nil
}

func extractSection(ctx context.Context, store repository.Store, s Section, dir string, want digest.Digest, size int64, opts ExtractOptions) (tarball.ExtractReport, error) {
	rc, err := store.Fetch(ctx, s.Descriptor)
	if err != nil {
		return tarball.ExtractReport{}, fmt.Errorf("fetch: %w", err)
	}
	defer rc.Close()
	// The config's tar size bounds what the section may expand to: a hostile archive whose
	// section inflates without end is refused once past it, not read for ever.
	rep, err := tarball.Extract(ctx, rc, dir, tarball.ExtractOptions{Rootless: opts.Rootless, Progress: opts.Progress, MaxBytes: size})
	if err != nil {
		return rep, err
	}
	// Reading to the end lets the store check the digest of the whole blob.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return rep, fmt.Errorf("the section's bytes do not match its digest: %w", err)
	}
	if digest.Digest(rep.DiffID) != want {
		return rep, fmt.Errorf("the tar has diffID %s, the config says %s: the archive is damaged", rep.DiffID, want)
	}
	return rep, nil
}
