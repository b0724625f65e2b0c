package cli

import (
	"strings"
	"testing"
)

// Every way of calling the command wrongly exits 2, in every subcommand: a script tells a
// mistake in its own command line from a failed operation by the code alone.
func TestUsageMistakesExitTwo(t *testing.T) {
	repo := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"unknown archive subcommand", []string{"archive", "bogus"}, `unknown command "bogus"`},
		{"unknown model subcommand", []string{"model", "bogus"}, `unknown command "bogus"`},
		{"a typo gets a suggestion", []string{"archive", "lss"}, "did you mean ls?"},
		{"unknown flag", []string{"archive", "--repo", repo, "ls", "--bogus"}, "unknown flag: --bogus"},
		{"flag without its value", []string{"archive", "--repo", repo, "ls", "-o"}, "flag needs an argument"},
		{"bad flag value", []string{"manager", "--executor-concurrency", "many"}, "invalid argument"},
		{"version with an argument", []string{"version", "extra"}, `unknown command "extra"`},
		{"manager with an argument", []string{"manager", "extra"}, `unknown command "extra"`},
		{"initramfs build without --init", []string{"initramfs", "build", "--out", "x"}, "--init is required"},
		{"initramfs build without a destination", []string{"initramfs", "build", "--init", "x"}, "--out FILE, --cache-dir DIR"},
		{"model check with an argument", []string{"model", "check", "-f", "-", "extra"}, `unknown command "extra"`},
		{"installserver without a site", []string{"installserver", "--interface", "prov0", "--address", "198.18.0.1"}, "--site is required"},
		{"installserver on an interface that does not exist", []string{"installserver", "--site", "s", "--interface", "fc-no-such0"}, "--interface fc-no-such0"},
		{"installserver with an IPv6 address", []string{"installserver", "--site", "s", "--interface", "prov0", "--address", "2001:db8::1"}, "want this server's IPv4 address"},
		{"installserver with a bad DNS server", []string{"installserver", "--site", "s", "--interface", "prov0", "--address", "198.18.0.1", "--dns", "dns.example"}, "--dns"},
		{"installserver with two secrets", []string{"installserver", "--site", "s", "--interface", "prov0", "--address", "198.18.0.1", "--secret", "a", "--secret-file", "b"}, "give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, nil, tc.args...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want 2; stderr %q should say %q (stdout %q)", code, errs, tc.want, out)
			}
		})
	}
}

// A command group without a subcommand shows its help and succeeds, as before.
func TestGroupWithoutSubcommandShowsHelp(t *testing.T) {
	for _, group := range [][]string{nil, {"archive"}, {"model"}} {
		out, errs, code := run(t, nil, group...)
		if code != 0 || !strings.Contains(out, "Available Commands") {
			t.Fatalf("flarecast %v: exit %d, stdout %q, stderr %q", group, code, out, errs)
		}
	}
}
