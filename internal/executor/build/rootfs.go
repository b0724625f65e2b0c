package build

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/opencontainers/go-digest"
)

// openRootfs returns the tarball of src as a file positioned at its start, after checking
// its digest: nothing is packed from bytes that do not match. A remote tarball is downloaded
// to a temporary file first (removed by the returned cleanup) and hashed as it lands.
func openRootfs(ctx context.Context, src *Rootfs, client *http.Client) (*os.File, func(), error) {
	u, err := url.Parse(src.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs URL %q: %w", src.URL, err)
	}
	alg := src.Digest.Algorithm()
	var f *os.File
	var got digest.Digest
	cleanup := func() {}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, nil, fmt.Errorf("rootfs URL %s: a file:// URL names a local path (file:///path)", src.URL)
		}
		if f, err = os.Open(u.Path); err != nil {
			return nil, nil, fmt.Errorf("rootfs %s: %w", src.URL, err)
		}
		cleanup = func() { f.Close() }
		got, err = alg.FromReader(f)
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("rootfs %s: read: %w", src.URL, err)
		}
	case "http", "https":
		if f, got, err = download(ctx, src.URL, alg, client); err != nil {
			return nil, nil, err
		}
		cleanup = func() { f.Close(); os.Remove(f.Name()) }
	default:
		return nil, nil, fmt.Errorf("rootfs URL %s: scheme %q is not file, http or https", src.URL, u.Scheme)
	}
	if got != src.Digest {
		cleanup()
		return nil, nil, fmt.Errorf("rootfs %s has digest %s, but spec.source.rootfs.digest says %s: the tarball changed or the digest is wrong", src.URL, got, src.Digest)
	}
	return f, cleanup, nil
}

// download writes the body at rawURL to a temporary file, positioned at its start, and
// returns it with the body's digest.
func download(ctx context.Context, rawURL string, alg digest.Algorithm, client *http.Client) (*os.File, digest.Digest, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("rootfs %s: the server answered %s", rawURL, resp.Status)
	}
	f, err := os.CreateTemp("", "flarecast-rootfs-*.tar")
	if err != nil {
		return nil, "", fmt.Errorf("rootfs %s: %w", rawURL, err)
	}
	d := alg.Digester()
	_, err = io.Copy(io.MultiWriter(f, d.Hash()), resp.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, "", fmt.Errorf("rootfs %s: download: %w", rawURL, err)
	}
	return f, d.Digest(), nil
}
