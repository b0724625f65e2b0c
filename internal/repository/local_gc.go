package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/atomicfile"
)

// GC removes the blobs no name reaches, and temp files of writers that are gone. A dry run
// (the only GC a read-only store runs) removes nothing and counts both.
//
// Marking starts at every named manifest (and every unnamed entry that is not a referrer
// record) and follows config, layers, the manifests of an
// index and a subject; then every recorded referrer whose subject is marked is marked too,
// until nothing changes. The whole run holds the index lock, so no name can be added to an
// unmarked blob meanwhile (Tag checks its blobs under the same lock), nor a blob be stored or
// reused between the listing and the removal (writers hold it shared). Blobs younger than the
// grace period survive: their writer may not have named them yet. Temp files go only when
// their writer's lock is free (the writer died) and they are older than the grace period.
func (s *Local) GC(ctx context.Context, dryRun bool) (GCReport, error) {
	report := GCReport{Removed: []ocispec.Descriptor{}}
	lock := lockFile
	if s.readOnly {
		if !dryRun {
			return report, refuseWrite("gc", s.root)
		}
		lock = lockFileReadOnly
	}
	l, err := lock(filepath.Join(s.root, lockFileName))
	if err != nil {
		return report, err
	}
	defer l.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return report, err
	}
	marked, err := s.mark(ctx, idx)
	if err != nil {
		return report, fmt.Errorf("gc %s: %w (nothing removed)", s.root, err)
	}
	cutoff := s.cutoff()
	garbage, kept, err := s.sweepList(marked, cutoff)
	if err != nil {
		return report, fmt.Errorf("gc %s: %w", s.root, err)
	}
	report.Kept = kept
	for _, g := range garbage {
		report.Removed = append(report.Removed, g)
		report.BytesRemoved += g.Size
	}
	if dryRun {
		report.TempFiles, err = s.cleanAllTemps(false)
		if err != nil {
			return report, fmt.Errorf("gc %s: %w", s.root, err)
		}
		return report, nil
	}
	// Referrer records of removed manifests go first, so a crash mid-sweep never leaves
	// index.json pointing at a missing blob.
	if pruned, changed := pruneReferrers(idx, garbage); changed {
		if err := s.writeIndex(pruned); err != nil {
			return report, fmt.Errorf("gc %s: %w", s.root, err)
		}
	}
	for i, g := range garbage {
		if i == 1 {
			crashPoint("gc-sweeping")
		}
		if err := os.Remove(s.BlobPath(g.Digest)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return report, fmt.Errorf("gc %s: %w", s.root, err)
		}
	}
	for _, alg := range s.algorithms() {
		if err := atomicfile.SyncDir(filepath.Join(s.root, "blobs", alg)); err != nil {
			return report, err
		}
	}
	report.TempFilesRemoved, err = s.cleanAllTemps(true)
	report.TempFiles = report.TempFilesRemoved
	if err != nil {
		return report, fmt.Errorf("gc %s: %w", s.root, err)
	}
	return report, nil
}

func (s *Local) mark(ctx context.Context, idx ocispec.Index) (map[digest.Digest]bool, error) {
	marked := map[digest.Digest]bool{}
	var visit func(d ocispec.Descriptor) error
	visit = func(d ocispec.Descriptor) error {
		if marked[d.Digest] {
			return nil
		}
		if err := validDigest(d.Digest); err != nil {
			return err
		}
		marked[d.Digest] = true
		if !isManifest(d.MediaType) {
			return nil
		}
		links, err := s.readManifest(ctx, d)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		next := links.children()
		if links.Subject != nil {
			next = append(next, *links.Subject)
		}
		for _, c := range next {
			if err := visit(c); err != nil {
				return err
			}
		}
		return nil
	}
	// Unnamed entries with a subject are the referrer records; any other entry (another
	// tool's layout may list images without a name) is a root like a name.
	var referrers []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if refName(m) == "" && isManifest(m.MediaType) {
			if links, err := s.readManifest(ctx, m); err == nil && links.Subject != nil {
				referrers = append(referrers, m)
				continue
			}
		}
		if err := visit(m); err != nil {
			return nil, fmt.Errorf("archive %s %s: %w", refName(m), m.Digest, err)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, r := range referrers {
			if marked[r.Digest] {
				continue
			}
			links, err := s.readManifest(ctx, r)
			if err != nil {
				continue // a referrer that cannot be read keeps nothing alive; sweep decides
			}
			if links.Subject != nil && marked[links.Subject.Digest] {
				if err := visit(r); err != nil {
					return nil, fmt.Errorf("referrer %s: %w", r.Digest, err)
				}
				changed = true
			}
		}
	}
	return marked, nil
}

// sweepList returns the unmarked blobs older than cutoff, and how many blobs stay.
func (s *Local) sweepList(marked map[digest.Digest]bool, cutoff time.Time) ([]ocispec.Descriptor, int, error) {
	var garbage []ocispec.Descriptor
	kept := 0
	for _, alg := range s.algorithms() {
		ents, err := os.ReadDir(filepath.Join(s.root, "blobs", alg))
		if err != nil {
			return nil, 0, err
		}
		for _, e := range ents {
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg), e.Name())
			if d.Validate() != nil || e.IsDir() {
				continue // temp files and foreign files are not blobs
			}
			info, err := e.Info()
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue
				}
				return nil, 0, err
			}
			if marked[d] || info.ModTime().After(cutoff) {
				kept++
				continue
			}
			garbage = append(garbage, ocispec.Descriptor{Digest: d, Size: info.Size()})
		}
	}
	return garbage, kept, nil
}

func pruneReferrers(idx ocispec.Index, garbage []ocispec.Descriptor) (ocispec.Index, bool) {
	gone := map[digest.Digest]bool{}
	for _, g := range garbage {
		gone[g.Digest] = true
	}
	var kept []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if refName(m) == "" && gone[m.Digest] {
			continue
		}
		kept = append(kept, m)
	}
	changed := len(kept) != len(idx.Manifests)
	idx.Manifests = kept
	return idx, changed
}

// algorithms are the blobs/ subdirectories that hold blobs.
func (s *Local) algorithms() []string {
	var out []string
	for _, a := range []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512} {
		if fi, err := os.Stat(filepath.Join(s.root, "blobs", a.String())); err == nil && fi.IsDir() {
			out = append(out, a.String())
		}
	}
	return out
}

// cutoff is the time before which an unreferenced blob or an unlocked temp file is garbage.
func (s *Local) cutoff() time.Time {
	if s.grace < 0 {
		return time.Now().Add(time.Hour) // no grace: everything is old enough
	}
	return time.Now().Add(-s.grace)
}

// AbandonedTempFiles counts the temp files of writers that died mid-write and are older than
// the grace period: what GC would remove. It changes nothing, so read-only commands use it to
// report them.
func (s *Local) AbandonedTempFiles() (int, error) { return s.cleanAllTemps(false) }

// cleanAllTemps removes (or, without remove, counts) the abandoned temp files of the store.
func (s *Local) cleanAllTemps(remove bool) (int, error) {
	cutoff := s.cutoff()
	total := 0
	dirs := []string{s.root}
	for _, a := range s.algorithms() {
		dirs = append(dirs, filepath.Join(s.root, "blobs", a))
	}
	for _, d := range dirs {
		n, err := cleanTemps(d, cutoff, remove)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
