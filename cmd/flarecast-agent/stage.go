package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
)

// stage runs a stage of the installed system: "flarecast-agent stage BeforeServices", as the
// units the agent installed start it at boot.
func stage(log *slog.Logger, args []string) int {
	fs := flag.NewFlagSet("flarecast-agent stage", flag.ContinueOnError)
	root := fs.String("root", "/", "the installed system's root")
	noReboot := fs.Bool("no-reboot", false, "do not reboot for the second boot (tests)")
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: flarecast-agent stage BeforeServices|AfterServices [--root DIR] [--no-reboot]")
		return 2
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if err := runStage(log, *root, name, *noReboot); err != nil {
		log.Error("stage failed", "stage", name, "err", err)
		return 1
	}
	return 0
}

func runStage(log *slog.Logger, root, name string, noReboot bool) error {
	b, err := os.ReadFile(filepath.Join(root, agent.ResidentConfig))
	if err != nil {
		return fmt.Errorf("read the resident agent's configuration: %w", err)
	}
	var r agent.Resident
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("read %s: %w", agent.ResidentConfig, err)
	}
	parts := strings.Split(r.Node, "/")
	if len(parts) != 3 {
		return fmt.Errorf("%s: node %q is not namespace/cluster/node", agent.ResidentConfig, r.Node)
	}
	// At boot the install server may be away: each report is retried for a few minutes, not
	// for ever, so that a stage never holds the boot without end.
	client, err := agentapi.NewClient(r.Server, agentapi.NodeRef{Namespace: parts[0], Cluster: parts[1], Node: parts[2]}, r.Token,
		agentapi.ClientOptions{Attempts: 12, MaxBackoff: 30 * time.Second})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	cfg := agent.StageConfig{Server: client, Root: root, Stage: name, Log: log}
	if !noReboot {
		cfg.Reboot = func() error {
			// A clean shutdown through systemd when there is one; the foundation services
			// have not started yet.
			if path, err := exec.LookPath("systemctl"); err == nil {
				return exec.Command(path, "reboot").Run()
			}
			syscall.Sync()
			return syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
		}
	}
	res, err := agent.RunStage(ctx, cfg)
	if err != nil {
		return err
	}
	log.Info("stage done", "stage", name, "ran", res.Ran, "rebooted", res.Rebooted, "running", res.Running)
	return nil
}
