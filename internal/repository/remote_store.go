package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Fetch returns the blob, verified at its end. With a cache, a good cached copy is served
// and a fetched one is kept.
func (s *Remote) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	if err := validDigest(target.Digest); err != nil {
		return nil, err
	}
	if s.cache != nil {
		return s.fetchCached(ctx, target)
	}
	return s.fetchRemote(ctx, target)
}

func (s *Remote) fetchRemote(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.repo.Fetch(ctx, target)
	if err != nil {
		return nil, s.explain("fetch "+target.Digest.String()+" from", err)
	}
	return newVerifyingReader(rc, target), nil
}

// Exists asks the registry, never the cache: a copy to the registry must not skip a blob
// because this site happens to hold it.
func (s *Remote) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	ok, err := s.repo.Exists(ctx, target)
	if err != nil {
		return false, s.explain("exists "+target.Digest.String()+" in", err)
	}
	return ok, nil
}

// Push uploads a blob or manifest; the registry checks the digest. A blob the registry holds
// gives errdef.ErrAlreadyExists, as in a local store.
func (s *Remote) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	if s.readOnly {
		return refuseWrite("push "+expected.Digest.String()+" to", s.location)
	}
	if err := validDigest(expected.Digest); err != nil {
		return err
	}
	// One HEAD saves re-sending a blob, and gives the same answer as a local store.
	if ok, err := s.repo.Exists(ctx, expected); err == nil && ok {
		return fmt.Errorf("push %s to %s: %w", expected.Digest, s.location, errdef.ErrAlreadyExists)
	}
	if err := s.repo.Push(ctx, expected, r); err != nil {
		return s.explain("push "+expected.Digest.String()+" to", err)
	}
	return nil
}

func (s *Remote) Tag(ctx context.Context, desc ocispec.Descriptor, name string) error {
	if s.readOnly {
		return refuseWrite("tag "+name+" in", s.location)
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := s.repo.Tag(ctx, desc, name); err != nil {
		return s.explain("tag "+name+" in", err)
	}
	return nil
}

func (s *Remote) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if _, err := digest.Parse(reference); err != nil {
		if err := ValidateName(reference); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	desc, err := s.repo.Resolve(ctx, reference)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) || isNameUnknown(err) {
			return ocispec.Descriptor{}, fmt.Errorf("archive %q not found in %s (list names with `flarecast archive list`): %w",
				reference, s.location, errdef.ErrNotFound)
		}
		return ocispec.Descriptor{}, s.explain("resolve "+reference+" in", err)
	}
	return desc, nil
}

// isNameUnknown reports the registry's answer for a repository nothing was pushed to yet.
func isNameUnknown(err error) bool {
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) || resp.StatusCode != http.StatusNotFound {
		return false
	}
	for _, e := range resp.Errors {
		if e.Code == errcode.ErrorCodeNameUnknown {
			return true
		}
	}
	return len(resp.Errors) == 0
}

// List lists the repository's tags and resolves each (one request per tag).
func (s *Remote) List(ctx context.Context) ([]Entry, error) {
	var names []string
	err := s.repo.Tags(ctx, "", func(tags []string) error {
		names = append(names, tags...)
		return nil
	})
	if err != nil {
		if isNameUnknown(err) {
			return nil, nil // an empty repository does not exist yet in a registry
		}
		return nil, s.explain("list", err)
	}
	sort.Strings(names)
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		if referrersTag.MatchString(n) {
			continue
		}
		desc, err := s.repo.Resolve(ctx, n)
		if errors.Is(err, errdef.ErrNotFound) {
			continue // untagged between the listing and now
		}
		if err != nil {
			return nil, s.explain("list: resolve "+n+" in", err)
		}
		out = append(out, Entry{Name: n, Descriptor: desc})
	}
	return out, nil
}

// Untag deletes the tag with DELETE /v2/<repo>/manifests/<tag> (distribution v3 and most
// registries allow it when deletion is enabled); the manifest stays.
func (s *Remote) Untag(ctx context.Context, name string) error {
	if s.readOnly {
		return refuseWrite("untag "+name+" in", s.location)
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	scheme := "https"
	if s.repo.PlainHTTP {
		scheme = "http"
	}
	r := s.repo.Reference
	url := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", scheme, r.Host(), r.Repository, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return fmt.Errorf("untag %s: %w", name, err)
	}
	resp, err := s.repo.Client.Do(req)
	if err != nil {
		return s.explain("untag "+name+" in", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("untag %s: no archive by that name in %s: %w", name, s.location, errdef.ErrNotFound)
	case http.StatusMethodNotAllowed, http.StatusBadRequest:
		return fmt.Errorf("untag %s in %s: the registry refuses to delete tags (HTTP %d); enable deletion in the registry (distribution: storage.delete.enabled) or overwrite the name: %w",
			name, s.location, resp.StatusCode, errdef.ErrUnsupported)
	case http.StatusUnauthorized, http.StatusForbidden:
		return s.explain("untag "+name+" in", &errcode.ErrorResponse{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode})
	}
	return fmt.Errorf("untag %s in %s: unexpected HTTP %d", name, s.location, resp.StatusCode)
}

// GC is the registry's business: it alone knows what other clients reference.
func (s *Remote) GC(context.Context, bool) (GCReport, error) {
	return GCReport{}, fmt.Errorf("gc %s: not supported on a registry; use the registry's own garbage collection (distribution: `registry garbage-collect`): %w",
		s.location, errdef.ErrUnsupported)
}

func (s *Remote) Close() error { return nil }
