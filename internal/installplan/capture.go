package installplan

import (
	"path"
	"slices"
	"strings"
)

// CaptureExclude is what a capture always leaves out of a node's root, whatever the install
// server adds: the pseudo and volatile file systems (their directories stay, empty: the
// captured system mounts on them again), the node's identity (host keys, machine-id) and
// what flarecast itself wrote there (the cluster section's plans and the agent's state and
// configuration, which holds the node's token).
var CaptureExclude = []string{
	"dev/*", "proc/*", "run/*", "sys/*", "tmp/*",
	"etc/machine-id", "etc/ssh/ssh_host_*",
	"etc/flarecast", "var/lib/flarecast",
}

// CaptureExcluded reports whether the entry name (relative to the root, "etc/ssh/ssh_host_rsa_key")
// or one of its parent directories matches a pattern of exclude (path.Match patterns relative
// to the root). "proc/*" leaves /proc's contents out and keeps /proc.
func CaptureExcluded(exclude []string, name string) bool {
	name = strings.Trim(name, "/")
	for p := name; p != "." && p != ""; p = path.Dir(p) {
		for _, pat := range exclude {
			if ok, _ := path.Match(strings.Trim(pat, "/"), p); ok {
				return true
			}
		}
	}
	return false
}

// MergeExclude is the sorted union of exclude lists without duplicates.
func MergeExclude(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, p := range l {
			if p = strings.Trim(path.Clean("/"+p), "/"); p != "" {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CaptureResult is the body of a PUT capture that the install server packed and stored.
type CaptureResult struct {
	// Archive is the FlashArchive's name; Digest the manifest digest of what was stored.
	Archive string `json:"archive"`
	Digest  string `json:"digest"`
	// Size is the stored size of the binary section; TarBytes the tar it holds.
	Size     int64 `json:"size"`
	TarBytes int64 `json:"tarBytes"`
	Entries  int   `json:"entries"`
}

// HeaderCaptureMounts names, on a PUT capture, the mount points the node left empty because
// another file system is mounted there (comma-separated, relative to the root): the
// archive's inputs list them with the exclusions.
const HeaderCaptureMounts = "Flarecast-Capture-Mounts"
