package build

import (
	"fmt"
	"net/url"
	"strings"
)

// checkAptSources holds a build source's mirror and repositories to the limits its other
// sources meet, before anything runs: mmdebstrap fetches the mirror from the build's host
// (a file:// mirror is read from the host's files, so it must lie under --allow-file-source),
// and apt in the build root fetches the repositories (their hosts, as a rootfs's, must be
// among --allow-source-host when any is listed). A file:// repository is a path of the build
// root itself, read by the chroot's apt, and needs no allowance. apt follows a mirror's
// redirects itself: only the first host is checked.
func checkAptSources(m *Master, lim Limits) error {
	if d := m.Base.Debian; d != nil {
		if err := checkAptURL("debian base mirror", d.Mirror, lim, true); err != nil {
			return err
		}
	}
	for _, line := range m.Repositories {
		uri, err := aptSourceURI(line)
		if err != nil {
			return failure(ReasonSourceNotAllowed, 0, "repository %q: %v", line, err)
		}
		if err := checkAptURL(fmt.Sprintf("repository %q", line), uri, lim, false); err != nil {
			return err
		}
	}
	return nil
}

// aptSourceURI is the URI of a one-line apt source, "deb [options] URI suite [components]".
func aptSourceURI(line string) (string, error) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "deb" && f[0] != "deb-src" {
		return "", fmt.Errorf("not a one-line apt source (deb or deb-src first)")
	}
	f = f[1:]
	if len(f) > 0 && strings.HasPrefix(f[0], "[") {
		for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
			f = f[1:]
		}
		if len(f) == 0 {
			return "", fmt.Errorf("its options have no closing ]")
		}
		f = f[1:]
	}
	if len(f) < 2 {
		return "", fmt.Errorf("no URI and suite after deb")
	}
	return f[0], nil
}

// checkAptURL checks one URI apt or mmdebstrap will fetch from. onHost says a file:// URI is
// read from the build host's files (mmdebstrap's mirror), not the build root's.
func checkAptURL(what, raw string, lim Limits, onHost bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return failure(ReasonSourceNotAllowed, 0, "%s %s: %v", what, raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if err := hostAllowed(u, lim.AllowHosts); err != nil {
			return failure(ReasonSourceNotAllowed, 0, "%s %s: %v", what, u.Redacted(), err)
		}
		return nil
	case "file":
		if !onHost {
			return nil
		}
		// The same message whatever stops it, as for a file:// rootfs: a namespace learns
		// nothing of the manager's files.
		refused := failure(ReasonSourceNotAllowed, 0, "%s %s: not a directory under the directories this manager allows file:// sources from (--allow-file-source)", what, raw)
		p := u.Path
		if len(p) > 1 {
			p = strings.TrimRight(p, "/") // a mirror's URL often ends in one
		}
		if _, ok := allowedPath(p, lim.AllowFileSources); !ok || u.Host != "" && u.Host != "localhost" {
			return refused
		}
		return nil
	}
	return failure(ReasonSourceNotAllowed, 0, "%s %s: apt method %q is not one a build may use (http, https, file)", what, u.Redacted(), u.Scheme)
}
