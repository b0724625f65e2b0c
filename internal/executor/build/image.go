package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/flarecast/flarecast/internal/image"
)

// imageConfig is what of an image's own configuration the archive records: how the image
// meant to be run, which a node's boot does not follow but a person comparing may want.
type imageConfig struct {
	Env        []string          `json:"env,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// openImage resolves an image source for arch and returns its flattened root file system as
// a tar stream (flattened as it is read: nothing of it is spooled here), recording what it
// resolved to in inputs. Local layouts and archives are allowed only where file:// sources
// are, registries only from the allowed hosts.
func openImage(ctx context.Context, src *Image, arch string, lim Limits, guard *stallGuard, work string, dockerConfig []byte, inputs map[string]string) (io.Reader, func(), error) {
	if err := imageAllowed(src.Ref, lim); err != nil {
		return nil, nil, err
	}
	opts := image.Options{Client: guard.client(httpClient(lim))}
	if len(dockerConfig) > 0 {
		// A file of its own in the build's work directory, removed with it.
		path := filepath.Join(work, "docker-config.json")
		if err := os.WriteFile(path, dockerConfig, 0o600); err != nil {
			return nil, nil, fmt.Errorf("image %s: credentials: %w", src.Ref, err)
		}
		opts.DockerConfig = path
	} else {
		// Not the manager's own docker config: a namespace gets only the credentials it gave.
		path := filepath.Join(work, "no-docker-config.json")
		if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("image %s: credentials: %w", src.Ref, err)
		}
		opts.DockerConfig = path
	}
	s, err := image.Open(ctx, src.Ref, opts)
	if err != nil {
		return nil, nil, noCredentials(err, src.Ref, len(dockerConfig) > 0)
	}
	im, err := s.Image(ctx, image.Platform{OS: "linux", Architecture: arch})
	if err != nil {
		return nil, nil, noCredentials(err, src.Ref, len(dockerConfig) > 0)
	}
	inputs[InputImageRef], inputs[InputImageDigest] = src.Ref, im.Digest.String()
	if im.IndexDigest != "" {
		inputs[InputImageIndex] = im.IndexDigest.String()
	}
	c := im.Config.Config
	cfg, err := json.Marshal(imageConfig{Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels})
	if err != nil {
		return nil, nil, err
	}
	if string(cfg) != "{}" {
		inputs[InputImageConfig] = string(cfg)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := im.Flatten(ctx, pw)
		pw.CloseWithError(err)
	}()
	// The packer may stop reading early (a bound, an error): closing the pipe ends Flatten.
	return pr, func() { pr.Close(); <-done }, nil
}

// imageAllowed applies the build's source rules to an image reference.
func imageAllowed(ref string, lim Limits) error {
	for _, prefix := range []string{image.LayoutPrefix, image.ArchivePrefix} {
		if !strings.HasPrefix(ref, prefix) {
			continue
		}
		p := strings.TrimPrefix(ref, prefix)
		if i := strings.LastIndexAny(p, ":@"); i > 0 && !strings.Contains(p[i:], "/") {
			p = p[:i]
		}
		refused := failure(ReasonSourceNotAllowed, 0, "image %s: not under the directories this manager allows local sources from (--allow-file-source)", ref)
		if _, ok := allowedPath(p, lim.AllowFileSources); !ok {
			return refused
		}
		return nil
	}
	r, err := registry.ParseReference(strings.TrimPrefix(ref, image.RegistryPrefix))
	if err != nil {
		return fmt.Errorf("image %s: %w", ref, err)
	}
	if err := hostAllowed(&url.URL{Host: r.Registry}, lim.AllowHosts); err != nil {
		return failure(ReasonSourceNotAllowed, 0, "image %s: %v", ref, err)
	}
	return nil
}

// noCredentials says what to do when a registry asks for credentials the build does not have
// for it: the library's own "basic credential not found" names neither the host nor the fix.
func noCredentials(err error, ref string, haveSecret bool) error {
	if !errors.Is(err, auth.ErrBasicCredentialNotFound) {
		return err
	}
	host := strings.TrimPrefix(ref, image.RegistryPrefix)
	if r, perr := registry.ParseReference(host); perr == nil {
		host = r.Registry
	}
	if haveSecret {
		return fmt.Errorf("image %s: the registry asks for credentials, and the pull Secret (spec.source.image.pullSecretRef) has none for %s: add that host to its .dockerconfigjson auths", ref, host)
	}
	return fmt.Errorf("image %s: the registry asks for credentials: name a kubernetes.io/dockerconfigjson Secret with credentials for %s in spec.source.image.pullSecretRef (the manager's own are never used)", ref, host)
}
