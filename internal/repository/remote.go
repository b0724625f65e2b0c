package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

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
	readOnly bool
}

var _ Store = (*Remote)(nil)

// OpenRemote opens host[:port]/repository in a registry and checks that the registry answers
// and accepts the credentials from the docker config.
func OpenRemote(ctx context.Context, ref string, opts Options) (*Remote, error) {
	location := RemoteScheme + ref
	if err := refuseCredentials(location); err != nil {
		return nil, err
	}
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
	s := &Remote{repo: repo, location: location, readOnly: opts.ReadOnly}
	if err := s.ping(ctx); err != nil {
		return nil, err
	}
	if opts.CacheDir != "" {
		cacheOpts := opts
		cacheOpts.ReadOnly = false // the cache is a copy of the registry's blobs, not the repository
		if s.cache, err = OpenLocal(opts.CacheDir, cacheOpts); err != nil {
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

// Ingest spools the blob to a temp file (to learn its digest) and uploads it on Commit.
func (s *Remote) Ingest(context.Context) (Ingester, error) {
	if s.readOnly {
		return nil, refuseWrite("ingest into", s.location)
	}
	f, err := os.CreateTemp("", "flarecast-ingest-*")
	if err != nil {
		return nil, fmt.Errorf("ingest for %s: %w", s.location, err)
	}
	return &spoolIngester{s: s, hashedTemp: newHashedTemp(f)}, nil
}

type spoolIngester struct {
	hashedTemp
	s *Remote
}

func (in *spoolIngester) Commit(ctx context.Context, mediaType string) (ocispec.Descriptor, error) {
	desc, err := in.seal(mediaType)
	if err != nil {
		return desc, err
	}
	defer removeSpool(in.f)
	if _, err := in.f.Seek(0, io.SeekStart); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ingest %s: %w", desc.Digest, err)
	}
	// Push asks whether the registry has the blob before sending it.
	if err := in.s.Push(ctx, desc, in.f); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

func (in *spoolIngester) Abort() error {
	if in.done {
		return nil
	}
	in.done = true
	return removeSpool(in.f)
}

func removeSpool(f *os.File) error {
	f.Close()
	return os.Remove(f.Name())
}
