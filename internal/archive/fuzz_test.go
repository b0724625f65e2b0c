package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeConfig: no input makes the decoder panic, and whatever it accepts encodes back to
// a config it accepts again, with the same canonical bytes on the second round.
func FuzzDecodeConfig(f *testing.F) {
	for _, c := range []*Config{genericConfig(), deployableConfig()} {
		b, err := EncodeConfig(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeConfig(b)
		if err != nil {
			return
		}
		again, err := EncodeConfig(c)
		if err != nil {
			t.Fatalf("accepted config does not encode: %v", err)
		}
		c2, err := DecodeConfig(again)
		if err != nil {
			t.Fatalf("re-encoded config refused: %v", err)
		}
		third, _ := EncodeConfig(c2)
		if string(third) != string(again) {
			t.Fatalf("encoding not stable:\n%s\n%s", again, third)
		}
	})
}

// FuzzDecodeManifest: no panic, and an accepted manifest always starts with the archive
// section and lists each section once.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(manifestWith(layer(MediaTypeArchiveLayer, dArchive)))
	f.Add(manifestWith(layer(MediaTypeArchiveLayer, dArchive), layer(MediaTypeConfigurationLayer, dConf), layer(MediaTypeClusterLayer, dCluster)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		secs := Sections(m)
		if len(secs) == 0 || secs[0].Name != SectionArchive {
			t.Fatalf("accepted manifest without the archive section first: %+v", secs)
		}
		seen := map[string]bool{}
		for _, s := range secs {
			if seen[s.Name] || s.Descriptor.Size < 0 {
				t.Fatalf("accepted manifest with section %s twice or negative size", s.Name)
			}
			seen[s.Name] = true
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seeds of FuzzDecodeConfig and
// FuzzDecodeManifest.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("FLARECAST_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set FLARECAST_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	gen, _ := EncodeConfig(genericConfig())
	dep, _ := EncodeConfig(deployableConfig())
	seeds := map[string]map[string][]byte{
		"FuzzDecodeConfig": {"generic": gen, "deployable": dep},
		"FuzzDecodeManifest": {
			"generic":    manifestWith(layer(MediaTypeArchiveLayer, dArchive)),
			"deployable": manifestWith(layer(MediaTypeArchiveLayer, dArchive), layer(MediaTypeConfigurationLayer, dConf), layer(MediaTypeClusterLayer, dCluster)),
		},
	}
	for target, files := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
