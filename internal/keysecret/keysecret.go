// Package keysecret keeps a random key in a Kubernetes Secret: read it, or make it the first
// time with fresh random bytes, so that every process of an installation (managers, install
// servers, a restart) gets the same key, and two that start at once agree on the one that was
// made first.
package keysecret

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

// Key says which key and of what size.
type Key struct {
	// What names the key in errors ("inputs key", "site secret").
	What string
	// Field is the key's entry in the Secret's data.
	Field string
	// Size is how many random bytes a new key holds; Min how many an existing one must.
	Size, Min int
	// Component labels a Secret made here (app.kubernetes.io/component).
	Component string
}

// Ensure reads the key from the Secret name (through r, which should not be a cache of
// every Secret), making the Secret with Size random bytes when it does not exist yet.
func Ensure(ctx context.Context, c client.Client, r client.Reader, name types.NamespacedName, k Key) ([]byte, error) {
	var s corev1.Secret
	err := r.Get(ctx, name, &s)
	if apierrors.IsNotFound(err) {
		key := make([]byte, k.Size)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("%s: %w", k.What, err)
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "flarecast", "app.kubernetes.io/component": k.Component}},
			Data: map[string][]byte{k.Field: key},
		}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) {
			// Another process made it first: take its key.
			err = r.Get(ctx, name, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s Secret %s: %w", k.What, name, err)
	}
	key := s.Data[k.Field]
	if len(key) < k.Min {
		return nil, fmt.Errorf("%s Secret %s: its key %q holds %d bytes, want at least %d random bytes", k.What, name, k.Field, len(key), k.Min)
	}
	return key, nil
}
