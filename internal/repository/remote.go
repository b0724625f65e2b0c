package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Remote is a store in one repository of an OCI registry. Names are the repository's tags.
type Remote struct {
	repo     *remote.Repository
	location string
	cache    *Local // nil without Options.CacheDir
}

var _ Store = (*Remote)(nil)

// OpenRemote opens host[:port]/repository in a registry and checks that the registry answers
// and accepts the credentials from the docker config.
func OpenRemote(ctx context.Context, ref string, opts Options) (*Remote, error) {
	location := RemoteScheme + ref
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w; write %shost[:port]/repository", location, err, RemoteScheme)
	}
	if r.Reference != "" {
		return nil, fmt.Errorf("open store %s: a store location names a repository, not a tag or digest; drop %q", location, r.Reference)
	}
	creds, err := credentialStore(opts.DockerConfig)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", location, err)
	}
	repo := &remote.Repository{
		Reference: r,
		PlainHTTP: opts.PlainHTTP || isLoopback(r.Host()),
		Client: &auth.Client{
			Client:     retry.DefaultClient,
			Cache:      auth.NewCache(),
			Credential: credentials.Credential(creds),
		},
	}
	s := &Remote{repo: repo, location: location}
	if err := s.ping(ctx); err != nil {
		return nil, err
	}
	if opts.CacheDir != "" {
		if s.cache, err = OpenLocal(opts.CacheDir, opts); err != nil {
			return nil, fmt.Errorf("open cache of %s: %w", location, err)
		}
	}
	return s, nil
}

func credentialStore(path string) (credentials.Store, error) {
	if path == "" {
		s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("docker config: %w (fix or move the file, or set DOCKER_CONFIG)", err)
		}
		return s, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("docker config %s: %w", path, err)
	}
	s, err := credentials.NewStore(path, credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker config %s: %w", path, err)
	}
	return s, nil
}

func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ping asks GET /v2/ so that a wrong address or credentials fail at Open, with advice.
func (s *Remote) ping(ctx context.Context) error {
	reg := &remote.Registry{RepositoryOptions: remote.RepositoryOptions{
		Reference: s.repo.Reference, PlainHTTP: s.repo.PlainHTTP, Client: s.repo.Client,
	}}
	if err := reg.Ping(ctx); err != nil {
		return s.explain("open store", err)
	}
	return nil
}

// explain turns a registry error into one that says what to do.
func (s *Remote) explain(op string, err error) error {
	host := s.repo.Reference.Registry
	var resp *errcode.ErrorResponse
	var netErr net.Error
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s %s: authentication failed (HTTP %d); log in with `docker login %s` or point Options.DockerConfig / DOCKER_CONFIG at a config.json with credentials for %s: %w",
			op, s.location, resp.StatusCode, host, host, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%s %s: the registry wants credentials and the docker config has none for %s; log in with `docker login %s` or point Options.DockerConfig / DOCKER_CONFIG at a config.json with credentials for it: %w",
			op, s.location, host, host, err)
	case errors.As(err, &netErr), errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("%s %s: registry %s unreachable: %w; check the address and that the registry runs (a registry without TLS needs plain HTTP)",
			op, s.location, host, err)
	}
	return fmt.Errorf("%s %s: %w", op, s.location, err)
}

func (s *Remote) String() string { return s.location }

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

// Push uploads a blob or manifest; the registry checks the digest.
func (s *Remote) Push(ctx context.Context, expected ocispec.Descriptor, r io.Reader) error {
	if err := validDigest(expected.Digest); err != nil {
		return err
	}
	if err := s.repo.Push(ctx, expected, r); err != nil {
		return s.explain("push "+expected.Digest.String()+" to", err)
	}
	return nil
}

func (s *Remote) Tag(ctx context.Context, desc ocispec.Descriptor, name string) error {
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

// Ingest spools the blob to a temp file (to learn its digest) and uploads it on Commit.
func (s *Remote) Ingest(context.Context) (Ingester, error) {
	f, err := os.CreateTemp("", "flarecast-ingest-*")
	if err != nil {
		return nil, fmt.Errorf("ingest for %s: %w", s.location, err)
	}
	return &spoolIngester{s: s, f: f, d: digest.Canonical.Digester()}, nil
}

type spoolIngester struct {
	s    *Remote
	f    *os.File
	d    digest.Digester
	n    int64
	done bool
}

func (in *spoolIngester) Write(p []byte) (int, error) {
	if in.done {
		return 0, errors.New("ingest: write after commit or abort")
	}
	n, err := in.f.Write(p)
	in.d.Hash().Write(p[:n])
	in.n += int64(n)
	return n, err
}

func (in *spoolIngester) Commit(ctx context.Context, mediaType string) (ocispec.Descriptor, error) {
	if in.done {
		return ocispec.Descriptor{}, errors.New("ingest: commit after commit or abort")
	}
	defer in.Abort()
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: in.d.Digest(), Size: in.n}
	if ok, err := in.s.repo.Exists(ctx, desc); err == nil && ok {
		return desc, nil
	}
	if _, err := in.f.Seek(0, io.SeekStart); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
	}
	if err := in.s.Push(ctx, desc, in.f); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

func (in *spoolIngester) Abort() error {
	if in.done {
		return nil
	}
	in.done = true
	in.f.Close()
	return os.Remove(in.f.Name())
}
