package build

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
)

// openRootfs returns the tarball of src as a file positioned at its start, after checking
// its digest: nothing is packed from bytes that do not match. A remote tarball is downloaded
// into workDir first (removed by the returned cleanup) and hashed as it lands.
func openRootfs(ctx context.Context, src *Rootfs, lim Limits, workDir string, progress func(Progress)) (*os.File, func(), error) {
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
		if f, err = openFileSource(u, src.URL, lim); err != nil {
			return nil, nil, err
		}
		cleanup = func() { f.Close() }
		got, err = hashFile(f, alg, lim.MaxSize, src.URL, progress)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
	case "http", "https":
		if f, got, err = download(ctx, src.URL, alg, lim, workDir, progress); err != nil {
			return nil, nil, err
		}
		cleanup = func() { f.Close(); os.Remove(f.Name()) }
	default:
		return nil, nil, fmt.Errorf("rootfs URL %s: scheme %q is not file, http or https", src.URL, u.Scheme)
	}
	if got != src.Digest {
		cleanup()
		// The content's digest is not named: of a file the namespace could not read, it would
		// be enough to build it under its digest, or to test a guess of its content.
		return nil, nil, failure(ReasonDigestMismatch, 0, "rootfs %s does not have the digest spec.source.rootfs.digest says %s: the tarball changed or the digest is wrong", src.URL, src.Digest)
	}
	return f, cleanup, nil
}

// openFileSource opens a file:// source when it lies, symbolic links resolved, under one of
// the directories the limits allow. Whatever stops it (outside, missing, unreadable, not a
// regular file) gives the same message, so that a namespace learns nothing of the manager's
// files, not even whether one exists.
func openFileSource(u *url.URL, raw string, lim Limits) (*os.File, error) {
	refused := failure(ReasonSourceNotAllowed, 0, "rootfs %s: not a readable regular file under the directories this manager allows file:// sources from (--allow-file-source)", raw)
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("rootfs URL %s: a file:// URL names a local path (file:///path)", raw)
	}
	real, ok := allowedPath(u.Path, lim.AllowFileSources)
	if !ok {
		return nil, refused
	}
	// O_NONBLOCK: a FIFO must not hold the build; O_NOFOLLOW: the path was resolved above.
	f, err := os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, refused
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, refused
	}
	return f, nil
}

// allowedPath is p, symbolic links resolved, when p is a clean absolute path under one of
// dirs both as written and as resolved; ok is false otherwise (p missing included).
func allowedPath(p string, dirs []string) (real string, ok bool) {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || !underAny(p, dirs, false) {
		return "", false
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || !underAny(real, dirs, true) {
		return "", false
	}
	return real, true
}

// underAny reports whether p is one of dirs or below one; resolve compares with the
// directories' own symbolic links resolved.
func underAny(p string, dirs []string, resolve bool) bool {
	for _, d := range dirs {
		d = filepath.Clean(d)
		if resolve {
			r, err := filepath.EvalSymlinks(d)
			if err != nil {
				continue
			}
			d = r
		}
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// hashFile digests an allowed local file, bounded by maxSize, and rewinds it.
func hashFile(f *os.File, alg digest.Algorithm, maxSize int64, raw string, progress func(Progress)) (digest.Digest, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("rootfs %s: %w", raw, err)
	}
	if fi.Size() > maxSize {
		return "", failure(ReasonSourceTooLarge, 0, "rootfs %s is %s, more than the %s maxSize allows", raw, sizeOf(fi.Size()), sizeOf(maxSize))
	}
	d := alg.Digester()
	n, err := io.Copy(d.Hash(), &countingReader{r: io.LimitReader(f, maxSize+1), report: progressOf(progress, StageRead, fi.Size())})
	if err == nil && n > maxSize {
		return "", failure(ReasonSourceTooLarge, n, "rootfs %s grew past the %s maxSize while it was read", raw, sizeOf(maxSize))
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return "", fmt.Errorf("rootfs %s: read: %w", raw, err)
	}
	return d.Digest(), nil
}
