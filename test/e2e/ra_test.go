package e2e

import (
	"context"
	"time"

	"github.com/flarecast/flarecast/internal/installserver"
)

// sendRouterAdvertisements runs the install server's router advertisements
// (`flarecast installserver --ipv6-router-advertisements`) on the lab's bridge: the third
// side of benchmark P7.
func (l *lab) sendRouterAdvertisements(ctx context.Context) error {
	return l.ns.InNetns(func() error { return installserver.RouterAdvertisements(ctx, bridge, 500*time.Millisecond) })
}
