package flar

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The header's names are plain text no digest covers. An edited name must not move an existing
// tag to other content: import names archives from their verified configs and refuses a header
// that disagrees with them, leaving every name as it was.
func TestImportRefusesAHeaderWhoseNameOrTypeDisagreesWithTheConfig(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	softwareLoad(t, src, 20<<10)
	file := exportBytes(t, src, "web-prod")
	for _, tc := range []struct{ name, from, to, want string }{
		{"renamed over an existing tag", "archive.1=web-prod Deployable", "archive.1=base Deployable", "the header names it base, its verified config web-prod"},
		{"renamed to a new tag", "archive.1=web-prod Deployable", "archive.1=web-pro0 Deployable", "the header names it web-pro0, its verified config web-prod"},
		{"retyped", "archive.1=web-prod Deployable", "archive.1=web-prod Configured", "the header says Configured, its verified config says Deployable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := bytes.Replace(file, []byte(tc.from), []byte(tc.to), 1)
			if bytes.Equal(edited, file) {
				t.Fatalf("the file has no %q", tc.from)
			}
			dst, _ := openStore(t)
			base, conf, dep := softwareLoad(t, dst, 10<<10) // other archives under the same names
			_, err := Import(ctx, dst, bytes.NewReader(edited), ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import: %v, want it refused: %q", err, tc.want)
			}
			names, err := dst.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"base": base.Digest.String(), "web-conf": conf.Digest.String(), "web-prod": dep.Digest.String()}
			if len(names) != len(want) {
				t.Fatalf("names after a refused import: %v, want only %v", names, want)
			}
			for _, e := range names {
				if want[e.Name] != e.Descriptor.Digest.String() {
					t.Fatalf("%s now names %s, it named %s before the refused import", e.Name, e.Descriptor.Digest, want[e.Name])
				}
			}
		})
	}
}

// An archive known under another name than its config's (pulled with --as) is exported under
// its config's name, so its file imports, and under that name.
func TestExportUsesTheConfigsNameSoTheFileImports(t *testing.T) {
	ctx := context.Background()
	src, _ := openStore(t)
	_, _, dep := softwareLoad(t, src, 20<<10)
	if err := src.Tag(ctx, dep, "prod-copy"); err != nil {
		t.Fatal(err)
	}
	file := exportBytes(t, src, "prod-copy")
	dst, _ := openStore(t)
	res, err := Import(ctx, dst, bytes.NewReader(file), ImportOptions{})
	if err != nil {
		t.Fatalf("Import of an export of a renamed archive: %v", err)
	}
	if len(res.Header.Archives) != 1 || res.Header.Archives[0].Tag != "web-prod" {
		t.Fatalf("header archives %+v, want web-prod", res.Header.Archives)
	}
	if got, err := dst.Resolve(ctx, "web-prod"); err != nil || got.Digest != dep.Digest {
		t.Fatalf("web-prod resolves to %v (%v), want %s", got.Digest, err, dep.Digest)
	}
}
