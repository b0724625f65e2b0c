// Command flarecast-agent is the node agent: the /init of the install server's initramfs on a
// node that installs itself, or a process in a network namespace with loop devices for its
// disks (a simulated node). It reads its install server, token and node name from the kernel
// command line (flarecast.server=, flarecast.namespace=, flarecast.cluster=, flarecast.node=,
// flarecast.token=, as the install server's boot script writes them) or from its flags, installs the node with internal/agent and reports every step to the agent API.
// A Diskless node installs nothing: the agent assembles its root (NFS under a tmpfs overlay,
// its own NFS export, or RAM) and, as /init, switches into it.
//
// It is its own small static binary: the standard library, the install plan contract, the
// agent API client, the disk layout and the tar extractor, and nothing of Kubernetes (a test
// holds its dependency list to that). On a failure it never reboots: it reports, and stays
// up (as /init, with a shell on the console for the operator).
//
// On the installed system the same binary runs the later stages ("stage BeforeServices",
// "stage AfterServices") and the resident agent ("resident"): a heartbeat with the digest
// the node runs, and, when the install server tells it to reinstall, the next boot set to
// the network and a reboot.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/installplan"
)

func main() {
	os.Exit(run())
}

type options struct {
	server, token, tokenFile, node, diskMap, root, cmdline, onFailure string
	sysfs, devDir                                                     string
	noBootLoader                                                      bool
	minBackoff                                                        time.Duration
}

func run() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(os.Args) > 1 && os.Args[1] == "stage" {
		return stage(log, os.Args[2:])
	}
	if len(os.Args) > 1 && os.Args[1] == "resident" {
		return resident(log, os.Args[2:])
	}
	initMode := os.Getpid() == 1
	if initMode {
		bootInit(log)
	}
	var o options
	fs := flag.NewFlagSet("flarecast-agent", flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "", "the install server's URL (default: flarecast.server= of the kernel command line)")
	fs.StringVar(&o.token, "token", "", "the node's token (default: flarecast.token=); prefer --token-file, which ps does not show")
	fs.StringVar(&o.tokenFile, "token-file", "", "a file holding the node's token")
	fs.StringVar(&o.node, "node", "", "namespace/cluster/node (default: flarecast.namespace=, flarecast.cluster= and flarecast.node=)")
	fs.StringVar(&o.diskMap, "disk-map", "", "simulated node: disk=device,... the device (or disk image, attached with losetup) of each disk of the plan")
	fs.StringVar(&o.root, "root", "/target", "where the node's root file system is mounted while it is installed")
	fs.StringVar(&o.cmdline, "cmdline", "/proc/cmdline", "the kernel command line to read flarecast.* from")
	fs.StringVar(&o.onFailure, "on-failure", "stay", "stay (up until signalled; as /init, a shell on the console) or exit (status 1)")
	fs.StringVar(&o.sysfs, "sysfs", "/sys", "where the block devices are listed")
	fs.StringVar(&o.devDir, "dev", "/dev", "where the block devices' nodes are")
	fs.BoolVar(&o.noBootLoader, "no-boot-loader", false, "simulated node: install no boot loader (its disk image is never booted)")
	fs.DurationVar(&o.minBackoff, "min-backoff", 500*time.Millisecond, "the first wait before asking the agent API again")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	res, err := install(ctx, log, o)
	if err == nil && res.Root != "" {
		// A Diskless node: its root is assembled; its own init takes over from here.
		if initMode {
			log.Info("switching into the node's root", "root", res.Root, "digest", res.InstalledDigest)
			err = agent.SwitchRoot(res.Root)
			log.Error("switch root", "err", err)
			stayWithShell(log)
		}
		return 0
	}
	if err == nil {
		if initMode {
			log.Info("installed; rebooting into the disk")
			if err := reboot(); err != nil {
				log.Error("reboot", "err", err)
			}
			stayWithShell(log)
		}
		return 0
	}
	log.Error("the node is not installed", "err", err)
	if initMode {
		stayWithShell(log)
	}
	if o.onFailure == "exit" {
		return 1
	}
	<-ctx.Done() // stay up: the operator (or the test) decides
	return 1
}

func install(ctx context.Context, log *slog.Logger, o options) (agent.Result, error) {
	var none agent.Result
	args, err := kernelArgs(o.cmdline)
	if err != nil && (o.server == "" || o.node == "" || (o.token == "" && o.tokenFile == "")) {
		return none, err
	}
	server := firstOf(o.server, args.server)
	node := firstOf(o.node, args.node)
	token := firstOf(o.token, args.token)
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return none, fmt.Errorf("read the token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	parts := strings.Split(node, "/")
	if len(parts) != 3 {
		return none, fmt.Errorf("node %q: want namespace/cluster/node (--node, or flarecast.namespace=, flarecast.cluster= and flarecast.node=)", node)
	}
	ref := agentapi.NodeRef{Namespace: parts[0], Cluster: parts[1], Node: parts[2]}
	client, err := agentapi.NewClient(server, ref, token, agentapi.ClientOptions{MinBackoff: o.minBackoff,
		OnRetry: func(err error, wait time.Duration) {
			log.Info("agent API not answering, retrying", "err", err, "wait", wait)
		}})
	if err != nil {
		return none, err
	}
	diskMap, detach, err := attachDisks(o.diskMap)
	defer detach()
	if err != nil {
		return none, err
	}
	if err := os.MkdirAll(o.root, 0o755); err != nil {
		return none, err
	}
	log.Info("installing", "node", ref.String(), "server", server, "root", o.root)
	self, err := os.Executable()
	if err != nil {
		return none, fmt.Errorf("find the agent's own binary, to install it: %w", err)
	}
	res, err := agent.Run(ctx, agent.Config{Server: client, DiskMap: diskMap, Target: o.root, Sysfs: o.sysfs, DevDir: o.devDir,
		NoBootLoader: o.noBootLoader, Log: log,
		Resident: &agent.Resident{Server: server, Node: ref.String(), Token: token}, ResidentBinary: self})
	if err != nil {
		return none, err
	}
	log.Info("install done", "action", res.Action, "installedDigest", res.InstalledDigest, "resumes", res.Resumes, "root", res.Root)
	return res, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// bootArgs are what the kernel command line says of the install.
type bootArgs struct{ server, node, token string }

// kernelArgs reads the flarecast.* words of a kernel command line: the install server's boot
// script gives flarecast.server=, flarecast.namespace=, flarecast.cluster=, flarecast.node=
// and flarecast.token= (installplan's Arg names); flarecast.url= and a flarecast.node= of
// the form namespace/cluster/node are read too, for a command line written by hand.
func kernelArgs(path string) (bootArgs, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return bootArgs{}, fmt.Errorf("read the kernel command line: %w", err)
	}
	kv := map[string]string{}
	for _, w := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(k, "flarecast.") {
			kv[k] = v
		}
	}
	// The install server's names (installplan), and flarecast.url as an older spelling.
	a := bootArgs{server: firstOf(kv[installplan.ArgServer], kv["flarecast.url"]), node: kv[installplan.ArgNode], token: kv[installplan.ArgToken]}
	if a.node != "" && !strings.Contains(a.node, "/") && kv[installplan.ArgNamespace] != "" && kv[installplan.ArgCluster] != "" {
		a.node = kv[installplan.ArgNamespace] + "/" + kv[installplan.ArgCluster] + "/" + a.node
	}
	if a.server == "" || a.node == "" || a.token == "" {
		return a, errors.New("the kernel command line lacks flarecast.server=, flarecast.node= or flarecast.token= (and no flags give them)")
	}
	return a, nil
}
