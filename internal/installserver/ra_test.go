package installserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// rdisc6 (ndisc6), a router discovery client no one here wrote, hears the install server's
// router advertisement on the provisioning link: from a router that offers no default route
// and no prefix, so a host configures nothing from it and iPXE stops waiting.
func TestRouterAdvertisementsSayThereIsNothingToConfigure(t *testing.T) {
	netlab.RequirePeers(t, "rdisc6")
	srv, node := netlab.NewNetns(t, "ra-srv"), netlab.NewNetns(t, "ra-node")
	netlab.Link(t, srv, "prov0", "198.18.0.1/24", node, "eth0", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.InNetns(func() error { return installserver.RouterAdvertisements(ctx, "prov0", 200*time.Millisecond) }); err != nil {
		t.Fatal(err)
	}
	var out string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		// -1: the first advertisement only; -w: how long to wait for it (ms).
		o, err := node.Output("rdisc6", "-1", "-w", "1000", "-r", "3", "eth0")
		if err == nil && strings.Contains(o, "Router lifetime") {
			out = o
			break
		}
	}
	for _, want := range []string{"Stateful address conf.    :           No", "Stateful other conf.      :           No", "Router lifetime           :            0 (0x00000000) seconds"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rdisc6 said %q, want %q", out, want)
		}
	}
	if strings.Contains(out, "Prefix") {
		t.Fatalf("the advertisement offers a prefix:\n%s", out)
	}
}
