package installserver

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/flarecast/flarecast/internal/keysecret"
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
	return keysecret.Ensure(ctx, c, r, name, keysecret.Key{What: "site secret", Field: SecretKey, Size: secretSize, Min: 16, Component: "site-secret"})
}
