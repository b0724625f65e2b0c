// Command testinit is the /init of the e2e tests' initramfs until the node agent takes its
// place: it prints a marker the test waits for on the serial console, loads the image's
// modules, gets a lease, fetches the URL the kernel command line names (flarecast.e2e.url)
// and prints what came back, then powers the machine off so that qemu ends.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/flarecast/flarecast/internal/earlyboot"
)

// Markers the test reads on the serial console.
const (
	markerRunning = "flarecast-e2e: init running"
	markerReply   = "flarecast-e2e: reply"
	markerFailed  = "flarecast-e2e: failed"
)

func main() {
	// The first line is written before anything can fail: it is what P7 times.
	fmt.Println(markerRunning)
	err := run()
	if err != nil {
		fmt.Printf("%s: %v\n", markerFailed, err)
	}
	if err := earlyboot.PowerOff(); err != nil {
		fmt.Printf("%s: power off: %v\n", markerFailed, err)
	}
	select {} // /init must not exit: the kernel would panic
}

func run() error {
	earlyboot.SetPath()
	if err := earlyboot.MountPseudo(); err != nil {
		return err
	}
	n, err := earlyboot.LoadModules(earlyboot.ModuleList)
	// Some modules of the image have no hardware or CPU feature here; the NIC's must load.
	fmt.Printf("flarecast-e2e: %d modules loaded (%v)\n", n, err)
	args, err := earlyboot.Cmdline()
	if err != nil {
		return err
	}
	url := args["flarecast.e2e.url"]
	if url == "" {
		return fmt.Errorf("no flarecast.e2e.url on the kernel command line")
	}
	var iface string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if iface, err = earlyboot.BootInterface(args["BOOTIF"]); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := earlyboot.DHCP(ctx, iface); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err
	}
	fmt.Printf("%s %d %s\n", markerReply, resp.StatusCode, strings.TrimSpace(string(body)))
	return nil
}
