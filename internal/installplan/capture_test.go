package installplan

import (
	"slices"
	"testing"
)

func TestCaptureExcludedMatchesEntriesAndTheirSubtrees(t *testing.T) {
	ex := MergeExclude(CaptureExclude, []string{"/srv/data/*", "etc/hostname"})
	for name, want := range map[string]bool{
		"proc":                         false, // the mount point stays
		"proc/1/status":                true,
		"sys/kernel":                   true,
		"etc/ssh/ssh_host_rsa_key":     true,
		"etc/ssh/ssh_host_rsa_key.pub": true,
		"etc/ssh/sshd_config":          false,
		"etc/machine-id":               true,
		"etc/machine-id.old":           false,
		"etc/flarecast/agent.json":     true,
		"etc/flarecast":                true,
		"var/lib/flarecast/stages/x":   true,
		"var/lib/dpkg/status":          false,
		"srv/data":                     false,
		"srv/data/big/file":            true,
		"etc/hostname":                 true,
		"usr/bin/tmp/x":                false, // tmp/* is the root's tmp only
		".":                            false,
	} {
		if got := CaptureExcluded(ex, name); got != want {
			t.Errorf("CaptureExcluded(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMergeExcludeCleansSortsAndDedupes(t *testing.T) {
	got := MergeExclude([]string{"/tmp/*", "etc/x"}, []string{"etc/x/", "", "/"})
	if want := []string{"etc/x", "tmp/*"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
