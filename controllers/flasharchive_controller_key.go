package controllers

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
	var s corev1.Secret
	err := r.Get(ctx, name, &s)
	if apierrors.IsNotFound(err) {
		key := make([]byte, inputsKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("inputs key: %w", err)
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "flarecast", "app.kubernetes.io/component": "inputs-key"}},
			Data: map[string][]byte{inputsKeyField: key},
		}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) {
			// Another manager made it first: take its key.
			err = r.Get(ctx, name, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("inputs key Secret %s: %w", name, err)
	}
	key := s.Data[inputsKeyField]
	if len(key) < inputsKeySize {
		return nil, fmt.Errorf("inputs key Secret %s: its key %q holds %d bytes, want at least %d random bytes", name, inputsKeyField, len(key), inputsKeySize)
	}
	return key, nil
}
