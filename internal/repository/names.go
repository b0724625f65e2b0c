package repository

import (
	"fmt"
	"regexp"

	"oras.land/oras-go/v2/errdef"
)

// Archive names are OCI tags (distribution spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}), in a local
// store as in a registry, so that an archive keeps its name when pushed or pulled and every
// OCI tool can address it. Names such as "rhel9:1.2" are not tags; callers that want a
// version in the name spell it "rhel9-1.2" or "rhel9_1.2".
var tagPattern = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ValidateName reports whether name can name an archive in any store.
func ValidateName(name string) error {
	if !tagPattern.MatchString(name) {
		return fmt.Errorf("invalid archive name %q: a name is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-' (OCI tag rules): %w",
			name, errdef.ErrInvalidReference)
	}
	return nil
}
