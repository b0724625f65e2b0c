package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flarecast/flarecast/internal/keysecret"
)

// DefaultInputsKeySecret is the Secret (in the manager's namespace) holding the key of the
// inputs digest; its key inputsKeyField holds at least inputsKeySize random bytes.
const (
	DefaultInputsKeySecret = "flarecast-inputs-key"
	inputsKeyField         = "key"
	inputsKeySize          = 32
)

// inputsKey reads the installation's inputs-digest key from its Secret, making one with a
// random key the first time. Every manager of an installation must read the same Secret:
// the key decides the inputs digest of every archive with Secret content, so another key
// rebuilds them all (to archives that differ only by the recorded inputs digest).
func inputsKey(ctx context.Context, c client.Client, r client.Reader, name types.NamespacedName) ([]byte, error) {
	return keysecret.Ensure(ctx, c, r, name, keysecret.Key{What: "inputs key", Field: inputsKeyField, Size: inputsKeySize, Min: inputsKeySize, Component: "inputs-key"})
}
