package repository

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Options tunes Open. The zero value suits a local store and a registry with TLS and the
// user's docker credentials.
type Options struct {
	// DockerConfig is the docker config file holding registry credentials. Empty means
	// $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
	DockerConfig string
	// PlainHTTP talks HTTP instead of HTTPS to the registry. Registries on localhost,
	// 127.0.0.0/8 and ::1 get plain HTTP without it.
	PlainHTTP bool
	// CacheDir, for a registry, is a local store consulted before the registry and filled by
	// every blob fetched from it (install servers keep a site-local copy this way).
	CacheDir string
	// GCGrace is how long GC spares a blob no name reaches, for writers that have pushed
	// blobs but not yet named their manifest. Zero means DefaultGCGrace; negative means none.
	GCGrace time.Duration
	// ReadOnly opens the store for reading only: nothing in it is created, changed or
	// removed, not even a crashed writer's temp files (GC counts them in a dry run), and
	// every write fails with ErrReadOnly. A local store must already exist. A registry's
	// CacheDir is not the repository: reads still fill it.
	ReadOnly bool
}

// RemoteScheme prefixes a registry location: oci://host[:port]/repository.
const RemoteScheme = "oci://"

// Open opens the store at location: a directory path (an OCI image layout, created when
// missing unless opts.ReadOnly) or oci://host[:port]/repository (a repository in an OCI
// registry).
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	if location == "" {
		return nil, fmt.Errorf("open store: empty location; give a directory or %shost/repository", RemoteScheme)
	}
	if err := refuseCredentials(location); err != nil {
		return nil, err
	}
	if strings.HasPrefix(location, RemoteScheme) {
		s, err := OpenRemote(ctx, strings.TrimPrefix(location, RemoteScheme), opts)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if i := strings.Index(location, "://"); i > 0 && !strings.ContainsAny(location[:i], "/.") {
		return nil, fmt.Errorf("open store %s: unknown scheme %q; use a directory path or %shost[:port]/repository",
			location, location[:i+3], RemoteScheme)
	}
	s, err := OpenLocal(location, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// refuseCredentials refuses a location that carries credentials (scheme://user:password@host),
// naming it without them: errors end up in terminals and logs. Credentials come from the
// docker config.
func refuseCredentials(location string) error {
	i := strings.Index(location, "://")
	if i < 0 {
		return nil
	}
	rest := location[i+3:]
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return nil
	}
	host := rest[at+1 : end]
	return fmt.Errorf("open store %s: a location holds no credentials; remove them and log in with `docker login %s` (or point DOCKER_CONFIG at a config.json with credentials for %s)",
		location[:i+3]+"REDACTED@"+rest[at+1:], host, host)
}
