package installserver

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

// SecretKey is the key of the site secret in its Secret.
const SecretKey = "secret"

// secretSize is how many random bytes a new site secret holds.
const secretSize = 32

// DefaultSecretName is the Secret of a site's secret unless told otherwise.
func DefaultSecretName(site string) string { return "flarecast-site-" + site }

// SiteSecret reads the site secret from its Secret, and makes the Secret (32 random bytes)
// when it does not exist yet: every install server of the site, and a restart, then give each
// node the same token. Rotating it (a new value) changes every node's token: nodes booted
// before then must boot again to get theirs.
func SiteSecret(ctx context.Context, c client.Client, r client.Reader, name types.NamespacedName) ([]byte, error) {
	var s corev1.Secret
	err := r.Get(ctx, name, &s)
	if apierrors.IsNotFound(err) {
		key := make([]byte, secretSize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("site secret: %w", err)
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "flarecast", "app.kubernetes.io/component": "site-secret"}},
			Data: map[string][]byte{SecretKey: key},
		}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) {
			// Another install server of the site made it first: take its secret.
			err = r.Get(ctx, name, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("site secret %s: %w", name, err)
	}
	key := s.Data[SecretKey]
	if len(key) < 16 {
		return nil, fmt.Errorf("site secret %s: its key %q holds %d bytes, want at least 16 random bytes", name, SecretKey, len(key))
	}
	return key, nil
}
