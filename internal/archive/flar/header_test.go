package flar

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// Section sizes whose sum does not fit in 64 bits cannot be checked against total_size: added
// with wrap-around, huge sizes could be made to match any total (here 8).
func TestReadHeaderRefusesSectionSizesThatOverflow(t *testing.T) {
	d := func(s string) digest.Digest { return digest.FromString(s) }
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nsection_begin=identification\nexported_by=test\narchives=1\n", Magic)
	fmt.Fprintf(&b, "archive.1=a Generic %s 10\nsections=3\ntotal_size=8\nsection_end=identification\nsection_begin=contents\n", d("m"))
	fmt.Fprintf(&b, "section.1=manifest application/vnd.oci.image.manifest.v1+json %s 10\n", d("m"))
	fmt.Fprintf(&b, "section.2=archive application/vnd.flarecast.archive.layer.v1.tar+zstd %s %d\n", d("x"), int64(math.MaxInt64))
	fmt.Fprintf(&b, "section.3=archive application/vnd.flarecast.archive.layer.v1.tar+zstd %s %d\n", d("y"), int64(math.MaxInt64))
	b.WriteString("section_end=contents\n")
	h, _, err := ReadHeader(strings.NewReader(b.String()))
	if err == nil || !strings.Contains(err.Error(), "add up to more than") {
		t.Fatalf("ReadHeader: %v (total %d), want the sizes refused", err, func() int64 {
			if h != nil {
				return h.TotalSize()
			}
			return -1
		}())
	}
}
