package archive

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/tarball"
)

// The same instant gives the same archive whatever zone or precision the caller's time.Time
// carries: the config is not allowed to record the caller's time zone (or the nanoseconds the
// tar's modification times drop).
func TestCreatedIsRecordedTheSameWhateverItsZone(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeTree(t, root, 1000)
	utc := time.Unix(1700000000, 0).UTC()
	for _, other := range []time.Time{
		time.Unix(1700000000, 0).In(time.FixedZone("CET", 3600)),
		time.Unix(1700000000, 999).UTC(),
	} {
		digests := func(created time.Time) (digest.Digest, digest.Digest) {
			s, _ := openStore(t)
			g, _, err := Create(ctx, s, tarball.DirSource(root), CreateOptions{Name: "base", Architecture: "amd64", OS: "linux", Created: &created})
			if err != nil {
				t.Fatal(err)
			}
			d, err := Derive(ctx, s, DeriveOptions{Base: "base", Name: "conf", Type: Configured, Configuration: sampleConfiguration("x"), Created: &created})
			if err != nil {
				t.Fatal(err)
			}
			return g.Digest, d.Descriptor.Digest
		}
		g1, d1 := digests(utc)
		g2, d2 := digests(other)
		if g1 != g2 || d1 != d2 {
			t.Errorf("created %v: generic %s and derived %s, with %v: %s and %s", other, g2, d2, utc, g1, d1)
		}
	}
}
