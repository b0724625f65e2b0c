package installserver

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/flarecast/flarecast/internal/dhcp"
)

// leaseObserver hears the DHCP server's leases on its packet path and hands them, through a
// queue, to one goroutine that records them in the status: the packet path never waits for
// the API server. A lease that finds the queue full is dropped with a log line (the node's
// next renewal, or its agent, brings the status up to date).
type leaseObserver struct {
	queue chan dhcp.Lease
	log   logr.Logger
}

func newLeaseObserver(log logr.Logger) *leaseObserver {
	return &leaseObserver{queue: make(chan dhcp.Lease, 1024), log: log}
}

func (o *leaseObserver) Bound(dhcp.Binding) {}

func (o *leaseObserver) Leased(l dhcp.Lease) {
	select {
	case o.queue <- l:
	default:
		o.log.Info("lease not recorded in the status: the queue is full", "node", l.Node, "address", l.Address.String())
	}
}

// run records the leases until ctx ends.
func (o *leaseObserver) run(ctx context.Context, site func() *Site, st *Status) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-o.queue:
			n, ok := site().ByName(l.Node)
			if !ok {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := st.Leased(wctx, n, l.Address.String()); err != nil && ctx.Err() == nil {
				o.log.Error(err, "lease not recorded in the status", "node", l.Node, "address", l.Address.String())
			}
			cancel()
		}
	}
}
