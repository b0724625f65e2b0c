package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/installplan"
)

// resident runs the resident agent: "flarecast-agent resident", as flarecast-resident.service
// starts it once the stages are done.
func resident(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("flarecast-agent resident", flag.ContinueOnError)
	root := fs.String("root", "/", "the installed system's root")
	interval := fs.Duration("interval", 30*time.Second, "the time between two heartbeats")
	simulated := fs.Bool("simulated", false, "simulated node: --root is a directory root, reinstalled in place when the node is told to (no reboot)")
	sysfs := fs.String("sysfs", "/sys", "where the firmware is told apart (/sys/firmware/efi: UEFI)")
	networkFirst := fs.Bool("bios-network-first", false, "BIOS: the boot order puts the network first, so a reboot reaches the install server without GRUB's iPXE entry")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runResident(ctx, log, *root, *interval, *simulated, agent.NextBoot{Root: *root, Sysfs: *sysfs, BIOSNetworkFirst: *networkFirst}); err != nil {
		log.Error("resident agent", "err", err)
		return 1
	}
	return 0
}

func runResident(ctx context.Context, log *slog.Logger, root string, interval time.Duration, simulated bool, nb agent.NextBoot) error {
	r, client, err := residentClient(root, agentapi.ClientOptions{Attempts: 3, MaxBackoff: 5 * time.Second})
	if err != nil {
		return err
	}
	loop := agent.ResidentLoop{Server: client, Root: root, Interval: interval, Log: log, Capturer: client, Mountinfo: "/proc/self/mountinfo"}
	if simulated {
		if abs, err := filepath.Abs(root); err != nil || abs == "/" {
			return fmt.Errorf("--simulated reinstalls --root in place: it must be a directory root, not %q", root)
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		loop.Reinstall = func(ctx context.Context, _ installplan.PlanResponse) error {
			// The install goes on for as long as it takes (the client retries without end,
			// as in the initramfs), bound only by the caller.
			_, ic, err := residentClient(root, agentapi.ClientOptions{})
			if err != nil {
				return err
			}
			_, err = agent.InstallInPlace(ctx, agent.Config{Server: ic, Target: root, Log: log, Resident: &r, ResidentBinary: self})
			return err
		}
	} else {
		if loop.PrepareNextBoot, err = nextBootFor(root, nb); err != nil {
			return err
		}
		if loop.PrepareNextBoot == nil {
			log.Info("the root is a Diskless node's network root: a reinstall is a reboot")
		}
		loop.Reinstall = func(context.Context, installplan.PlanResponse) error {
			if path, err := exec.LookPath("systemctl"); err == nil {
				if out, err := exec.Command(path, "reboot").CombinedOutput(); err != nil {
					return fmt.Errorf("systemctl reboot: %w: %s", err, strings.TrimSpace(string(out)))
				}
				// systemd stops this unit on the way down.
				<-ctx.Done()
				return errors.New("stopped while rebooting")
			}
			syscall.Sync()
			return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
		}
	}
	for {
		res, err := agent.RunResident(ctx, loop)
		if err != nil {
			return err
		}
		if !res.Reinstalled {
			return nil // signalled
		}
		log.Info("reinstalled in place", "digest", res.Digest)
	}
}

// nextBootFor is how a node's next boot goes to the network before a reinstall: the
// firmware's or GRUB's (NextBoot) on a disk install; nothing on a Diskless node, whose every
// boot is a network boot (its firmware has no disk to boot), so that a reboot is enough.
func nextBootFor(root string, nb agent.NextBoot) (func(context.Context) error, error) {
	netRoot, err := agent.NetworkRoot(root)
	if err != nil || netRoot != "" {
		return nil, err
	}
	return nb.Set, nil
}

// residentClient reads the resident agent's configuration under root and makes its client.
func residentClient(root string, o agentapi.ClientOptions) (agent.Resident, *agentapi.Client, error) {
	var r agent.Resident
	b, err := os.ReadFile(filepath.Join(root, agent.ResidentConfig))
	if err != nil {
		return r, nil, fmt.Errorf("read the resident agent's configuration: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, nil, fmt.Errorf("read %s: %w", agent.ResidentConfig, err)
	}
	parts := strings.Split(r.Node, "/")
	if len(parts) != 3 {
		return r, nil, fmt.Errorf("%s: node %q is not namespace/cluster/node", agent.ResidentConfig, r.Node)
	}
	c, err := agentapi.NewClient(r.Server, agentapi.NodeRef{Namespace: parts[0], Cluster: parts[1], Node: parts[2]}, r.Token, o)
	return r, c, err
}
