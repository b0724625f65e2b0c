// Package version holds the build's identity, stamped by the linker (see the Makefile), so
// every subcommand and every archive it writes can say which flarecast made it.
package version

import "runtime/debug"

// Set with -ldflags "-X github.com/flarecast/flarecast/internal/version.Version=…".
var (
	Version = "dev"
	Commit  = ""
)

// String is the one-line identity printed by `flarecast version`.
func String() string {
	c := Commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return "flarecast " + Version + " (" + c + ")"
}
