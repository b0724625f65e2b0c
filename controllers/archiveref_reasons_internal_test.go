package controllers

import (
	"testing"

	"github.com/flarecast/flarecast/internal/model/archiveref"
)

// The controller's constants for the rules package archiveref owns are archiveref's values,
// so a condition and a model check finding of the same rule carry the same reason.
func TestArchiveRefReasonsAreTheControllers(t *testing.T) {
	for mine, theirs := range map[string]string{
		ReasonBaseNotFound: string(archiveref.ReasonBaseNotFound),
		ReasonInvalidSpec:  string(archiveref.ReasonInvalidSpec),
		ReasonArchMismatch: string(archiveref.ReasonArchMismatch),
	} {
		if mine != theirs {
			t.Errorf("controllers says %s where archiveref says %s", mine, theirs)
		}
	}
}
