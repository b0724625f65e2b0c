// Command nfsinit is the /init of the e2e diskless guest: it loads the image's modules (the
// NFS client's among them, in modules.dep order: sunrpc, grace, lockd, nfs_acl, netfs,
// fscache, nfs, nfsv3), gives the NIC the address the command line names
// (flarecast.e2e.addr), mounts the NFS root flarecast.nfsroot= names (IP:PORT:PATH)
// read-only, and prints on the serial console a setuid file's mode and a file's content.
// Then it stays up: once the server at flarecast.e2e.go (host:port) accepts a connection
// (the test opens it after restarting the install server), it reads another file of the
// root, one it has not opened before, and prints it.
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/flarecast/flarecast/internal/earlyboot"
	"github.com/flarecast/flarecast/internal/installplan"
)

// Markers the test reads on the serial console.
const (
	markerRunning = "flarecast-e2e: nfsinit running"
	markerMode    = "flarecast-e2e: mode"
	markerFile    = "flarecast-e2e: file"
	markerAfter   = "flarecast-e2e: after restart"
	markerFailed  = "flarecast-e2e: failed"
)

const mnt = "/mnt"

func main() {
	fmt.Println(markerRunning)
	// The kernel starts /init with no PATH; busybox's applets are in /usr/bin.
	os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	if err := run(); err != nil {
		fmt.Printf("%s: %v\n", markerFailed, err)
	}
	// /init must not exit (the kernel would panic), and a bare select{} with no other
	// goroutine is a Go deadlock that exits.
	for {
		time.Sleep(time.Hour)
	}
}

func run() error {
	if err := earlyboot.MountPseudo(); err != nil {
		return err
	}
	n, err := earlyboot.LoadModules(earlyboot.ModuleList)
	fmt.Printf("flarecast-e2e: %d modules loaded (%v)\n", n, err)
	args, err := earlyboot.Cmdline()
	if err != nil {
		return err
	}
	root := strings.SplitN(args[installplan.ArgNFSRoot], ":", 3)
	if len(root) != 3 {
		return fmt.Errorf("%s=%q: want IP:PORT:PATH", installplan.ArgNFSRoot, args[installplan.ArgNFSRoot])
	}
	ip, port, path := root[0], root[1], root[2]
	var iface string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if iface, err = earlyboot.BootInterface(""); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return err
	}
	for _, c := range [][]string{{"ip", "link", "set", "dev", "lo", "up"}, {"ip", "addr", "add", args["flarecast.e2e.addr"], "dev", iface}, {"ip", "link", "set", "dev", iface, "up"}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	// This busybox has no NFS code: it hands the text options to the kernel, which does
	// MOUNT and NFS itself, with no portmapper (both on one port).
	opts := fmt.Sprintf("ro,vers=3,proto=tcp,nolock,noacl,port=%s,mountport=%s,mountproto=tcp,addr=%s", port, port, ip)
	var out []byte
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		// The link may take a moment to pass packets after it comes up.
		if out, err = exec.Command("mount", "-t", "nfs", "-o", opts, ip+":"+path, mnt).CombinedOutput(); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mount %s:%s: %v: %s", ip, path, err, out)
	}
	fmt.Printf("flarecast-e2e: mounted %s:%s\n", ip, path)
	var st syscall.Stat_t
	if err := syscall.Stat(mnt+"/usr/bin/su", &st); err != nil {
		return err
	}
	fmt.Printf("%s usr/bin/su %o\n", markerMode, st.Mode&0o7777)
	b, err := os.ReadFile(mnt + "/etc/os-release")
	if err != nil {
		return err
	}
	fmt.Printf("%s etc/os-release %q\n", markerFile, string(b))
	// The directory stays open: after the restart, the lookup below starts from the handle
	// the server gave before it.
	dir, err := os.Open(mnt + "/etc")
	if err != nil {
		return err
	}
	defer dir.Close()
	for {
		c, err := net.DialTimeout("tcp", args["flarecast.e2e.go"], time.Second)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	b, err = os.ReadFile(mnt + "/etc/after-restart")
	if err != nil {
		return err
	}
	fmt.Printf("%s etc/after-restart %q\n", markerAfter, string(b))
	return nil
}
