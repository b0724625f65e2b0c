package controllers

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// An event's note fits the API server's bound whatever the condition's message: a short one as
// it is, a long one (of multi-byte characters too) as its start and its end, valid UTF-8.
func TestEventNoteFitsTheAPIServersBound(t *testing.T) {
	if got := eventNote("Ready=False: short"); got != "Ready=False: short" {
		t.Fatalf("a short note became %q", got)
	}
	exact := strings.Repeat("x", eventNoteLimit)
	if got := eventNote(exact); got != exact {
		t.Fatalf("a note of exactly the bound became %d bytes", len(got))
	}
	for _, filler := range []string{"a", "é", "€", "𝄞"} {
		long := "Ready=False: mmdebstrap failed: " + strings.Repeat(filler, 3000) + " E: the end"
		got := eventNote(long)
		if len(got) > eventNoteLimit || !utf8.ValidString(got) || !strings.HasPrefix(got, "Ready=False: mmdebstrap failed: ") ||
			!strings.HasSuffix(got, " E: the end") || !strings.Contains(got, " … ") {
			t.Fatalf("filler %q: %d bytes, valid %v: %q…%q", filler, len(got), utf8.ValidString(got), got[:40], got[len(got)-40:])
		}
	}
}
