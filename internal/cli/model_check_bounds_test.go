package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// model check -f /dev/zero, or a file of one huge document, fails at once with a message that
// names the bound, instead of reading (and holding) without end.
func TestModelCheckRefusesADocumentPastTheBound(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	good := "apiVersion: flarecast.io/v1alpha1\nkind: Cluster\nmetadata: {name: edge}\nspec: {domain: 3}\n---\n"
	if err := os.WriteFile(huge, []byte(good+"metadata: {name: "+strings.Repeat("x", 4<<20)+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{"/dev/zero", "/dev/zero: document 1: the document is larger than 3 MiB"},
		{huge, huge + ": document 2: the document is larger than 3 MiB"},
	} {
		code, stdout, stderr := runModelCheck(t, "", "-f", tc.file)
		if code != 1 || !strings.Contains(stdout, tc.want) {
			t.Fatalf("model check -f %s: exit %d\nstdout %s\nstderr %s\nwant exit 1 and %q", tc.file, code, stdout, stderr, tc.want)
		}
	}
}
