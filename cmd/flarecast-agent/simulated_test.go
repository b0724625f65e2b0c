package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/httpboot"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/render"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
	"github.com/flarecast/flarecast/internal/testsupport/diskimage"
	"github.com/flarecast/flarecast/internal/testsupport/netlab"
)

// Simulated nodes: the real agent binary, each node in a network namespace of its own with a
// disk image for its disk, against a real HTTP server in another namespace that serves the
// agent API (agentapi's Handler over its Memory) and the archive's blobs (httpboot's handler
// over a real repository). Every address is from 198.18.0.0/15.

const (
	mib       = int64(1) << 20
	serverIP  = "198.18.0.1"
	serverURL = "http://" + serverIP + ":8080"
	ns        = "sim"
	cluster   = "c1"
)

var siteSecret = []byte("simulated site secret")

func needSimPeers(t *testing.T) {
	t.Helper()
	netlab.RequirePeers(t, "losetup", "sgdisk", "mkfs.ext4", "mkswap", "busybox")
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(netlab.Run(t, args...))
}

// newNetns makes a namespace that goes, with every process in it, when the test ends.
func newNetns(t *testing.T, role string) *netlab.Netns {
	t.Helper()
	return netlab.NewNetns(t, "ag-"+role)
}

// site is the install server side of the simulation.
type site struct {
	t      *testing.T
	srv    *netlab.Netns
	mem    *agentapi.Memory
	store  repository.Store
	nodes  int
	mu     sync.Mutex
	ranges map[string][]string // path -> the Range header of each request
	// loopback is where the server answers on 127.0.0.1 too.
	loopback string
	// installTimeout bounds one agent run (5 minutes unless a test says otherwise).
	installTimeout time.Duration
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{t: t, srv: newNetns(t, "srv"), mem: agentapi.NewMemory(), ranges: map[string][]string{}}
	s.srv.IP("link", "add", "br0", "type", "bridge")
	s.srv.IP("addr", "add", serverIP+"/24", "dev", "br0")
	s.srv.IP("link", "set", "br0", "up")

	store, err := repository.OpenLocal(t.TempDir(), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s.store = store
	blobs, err := httpboot.NewRepositoryBlobs(store, "", logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	boot, err := httpboot.New(httpboot.Options{Blobs: blobs, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	api, err := agentapi.NewHandler(agentapi.Options{Secret: siteSecret, Plans: s.mem, Events: s.mem})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(installplan.APIPrefix+"/", api)
	mux.Handle("/blobs/", s.record(boot))
	// /cut/blobs/D serves D and drops the connection of its first whole request midway.
	mux.Handle("/cut/", s.record(http.StripPrefix("/cut", cutOnce(boot))))
	// /tampered/blobs/D serves D with one byte changed.
	mux.Handle("/tampered/", s.record(http.StripPrefix("/tampered", tampered(boot))))

	var l net.Listener
	if err := s.srv.InNetns(func() (err error) { l, err = net.Listen("tcp", serverIP+":8080"); return err }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	// The same server on loopback, for a qemu guest whose user network forwards the
	// server's address there.
	ll, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.loopback = ll.Addr().String()
	lsrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go lsrv.Serve(ll)
	t.Cleanup(func() { lsrv.Close() })
	return s
}

func (s *site) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges[r.URL.Path] = append(s.ranges[r.URL.Path], r.Header.Get("Range"))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// cutOnce lets the first request of each blob that asks for all of it through up to half
// the blob, then drops the connection.
func cutOnce(h http.Handler) http.Handler {
	var mu sync.Mutex
	cut := map[string]bool{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := r.Header.Get("Range") == "" && !cut[r.URL.Path]
		cut[r.URL.Path] = true
		mu.Unlock()
		if !first {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&cutter{ResponseWriter: w}, r)
	})
}

type cutter struct {
	http.ResponseWriter
	written, limit int64
	dropped        bool
}

func (c *cutter) WriteHeader(code int) {
	if n, err := fmt.Sscan(c.Header().Get("Content-Length"), &c.limit); n == 1 && err == nil {
		c.limit /= 2
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutter) Write(p []byte) (int, error) {
	if c.dropped {
		return 0, io.ErrClosedPipe
	}
	if c.limit > 0 && c.written+int64(len(p)) > c.limit {
		n, _ := c.ResponseWriter.Write(p[:c.limit-c.written])
		c.written += int64(n)
		c.ResponseWriter.(http.Flusher).Flush()
		if conn, _, err := c.ResponseWriter.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		c.dropped = true
		return n, io.ErrClosedPipe
	}
	n, err := c.ResponseWriter.Write(p)
	c.written += int64(n)
	return n, err
}

// tampered serves a blob with the byte in its middle changed (and its true ETag: a server
// that lies about content).
func tampered(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		b := rec.body.Bytes()
		if len(b) > 0 {
			b[len(b)/2] ^= 0x5a
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(b)
	})
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }

// deployable builds a small bootable-looking tree (busybox as /bin/sh, a file of random
// bytes large enough to cut a download in) into a generic archive, and derives the group's
// deployable with scripts and the cluster section holding plans.
func (s *site) deployable(name string, scripts []archive.Script, plans []installplan.Plan) *archive.Archive {
	return s.configured(name, &archive.Configuration{Scripts: scripts}, plans)
}

// configured is deployable with a whole configuration section.
func (s *site) configured(name string, conf *archive.Configuration, plans []installplan.Plan) *archive.Archive {
	t := s.t
	t.Helper()
	tree := t.TempDir()
	for _, d := range []string{"bin", "etc", "root", "usr/share/sim"} {
		os.MkdirAll(filepath.Join(tree, d), 0o755)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	sh(t, "cp", bb, filepath.Join(tree, "bin", "busybox"))
	for _, applet := range []string{"sh", "cat", "echo", "hostname", "ls"} {
		os.Symlink("busybox", filepath.Join(tree, "bin", applet))
	}
	os.WriteFile(filepath.Join(tree, "etc", "os-release"), []byte("ID=flarecast-sim\n"), 0o644)
	noise := make([]byte, 3*mib)
	rand.Read(noise)
	os.WriteFile(filepath.Join(tree, "usr/share/sim/noise"), noise, 0o644)
	return s.derive(name, s.generic(name+"-base", tarball.DirSource(tree)), conf, plans)
}

var created = time.Unix(1700000000, 0)

// generic packs a root file system into a generic archive.
// Level 1 packs fastest: these tests measure nothing, and the Debian base is 700 MB.
func (s *site) generic(name string, src tarball.Source) ocispec.Descriptor {
	s.t.Helper()
	base, _, err := archive.Create(context.Background(), s.store, src, archive.CreateOptions{Name: name, Architecture: "amd64", OS: "linux",
		Created: &created, TempDir: s.t.TempDir(), Level: 1})
	if err != nil {
		s.t.Fatal(err)
	}
	return base
}

// derive makes the group's deployable from base, with scripts and the plans in its cluster
// section.
func (s *site) derive(name string, base ocispec.Descriptor, conf *archive.Configuration, plans []installplan.Plan) *archive.Archive {
	t := s.t
	t.Helper()
	ctx := context.Background()
	files, err := render.PlanFiles(plans)
	if err != nil {
		t.Fatal(err)
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: cluster, Groups: []archive.GroupLoad{{Name: "g", Archive: base.Digest}}}
	var table []archive.Node
	for i, p := range plans {
		table = append(table, archive.Node{Name: p.Node, ID: i + 1, Group: "g"})
		load.Groups[0].Nodes = append(load.Groups[0].Nodes, p.Node)
	}
	res, err := archive.Derive(ctx, s.store, archive.DeriveOptions{Base: base.Digest.String(), Name: name, Type: archive.Deployable,
		Configuration: conf, Cluster: &archive.ClusterSection{Files: files, Nodes: table},
		SoftwareLoad: load, NodesGroup: "g", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.Load(ctx, s.store, res.Descriptor.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serve makes the node known to the agent API with its plan and the archive, its sections
// at prefix + /blobs/D.
func (s *site) serve(p installplan.Plan, a *archive.Archive, prefix string) {
	resp := installplan.PlanResponse{Action: installplan.ActionInstall, Plan: p,
		Archive: installplan.Archive{Name: a.Config.Name, Digest: a.Descriptor.Digest.String()}}
	for _, sec := range archive.Sections(a.Manifest) {
		resp.Archive.Sections = append(resp.Archive.Sections, installplan.Section{Name: sec.Name, MediaType: sec.Descriptor.MediaType,
			Digest: sec.Descriptor.Digest.String(), DiffID: a.Config.DiffIDs[sec.Name].String(), Size: sec.Descriptor.Size,
			URL: serverURL + prefix + "/blobs/" + sec.Descriptor.Digest.String()})
	}
	s.mem.SetPlan(agentapi.NodeRef{Namespace: ns, Cluster: cluster, Node: p.Node}, resp)
}

// plan is a node's plan with one disk of diskSize: /boot, swap, and the root taking the rest
// (BIOS firmware: the agent adds a BIOS boot partition; the machines that run these tests
// may lack vfat, so the UEFI system partition is left to the qemu tests). Its serial and device are the model's; the disk map overrides them.
func plan(node string, diskSize int64, scripts ...installplan.Script) installplan.Plan {
	return installplan.Plan{Version: installplan.Version, Namespace: ns, Cluster: cluster, Group: "g", Node: node, Hostname: node,
		NodeType: "Diskfull", Role: "NonMasterEligible", Firmware: "BIOS", Arch: "amd64",
		NICs: []installplan.NIC{{Name: "eth0", MAC: "02:00:00:00:00:01", Network: "internal", Address: "198.18.0.20/24", Provisioning: true}},
		Disks: []installplan.Disk{{Name: "d0", Device: "/dev/vda", Serial: "SIM-" + node, Size: diskSize, Slices: []installplan.Slice{
			{Name: "boot", Index: 1, Size: 16 * mib, FSType: "ext4", MountPoint: "/boot", Label: "boot"},
			{Name: "swap", Index: 2, Size: 16 * mib, FSType: "swap"},
			{Name: "root", Index: 3, FSType: "ext4", MountPoint: "/", Label: "root", Options: []string{"noatime"}},
		}}},
		Scripts: scripts,
	}
}

// node is one simulated node: its namespace, linked to the server's bridge, and its disk
// image.
type node struct {
	name, netns, image string
	// bootLoader installs the archive's GRUB on the disk image (the archive must be bootable).
	bootLoader bool
}

func (s *site) newNode(name string, diskSize int64) *node {
	t := s.t
	t.Helper()
	s.nodes++
	ns := newNetns(t, name)
	n := &node{name: name, netns: ns.Name, image: filepath.Join(t.TempDir(), name+".img")}
	host := fmt.Sprintf("v%d-%d", os.Getpid()%10000, s.nodes)
	s.srv.IP("link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns.Name)
	s.srv.IP("link", "set", host, "master", "br0", "up")
	ns.IP("addr", "add", fmt.Sprintf("198.18.0.%d/24", 10+s.nodes), "dev", "eth0")
	ns.IP("link", "set", "eth0", "up")
	f, err := os.Create(n.image)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(diskSize)
	f.Close()
	return n
}

// install runs the agent binary on the node until it ends; it returns the exit error and
// the agent's output.
func (s *site) install(n *node) (error, string) {
	t := s.t
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(installplan.Token(siteSecret, ns, cluster, n.name)), 0o600)
	timeout := s.installTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"netns", "exec", n.netns, agentBinary(t),
		"--server", serverURL, "--node", ns + "/" + cluster + "/" + n.name, "--token-file", tokenFile, "--cmdline", "/dev/null",
		"--disk-map", "d0=" + n.image, "--root", t.TempDir(), "--on-failure", "exit", "--min-backoff", "50ms"}
	if !n.bootLoader {
		args = append(args, "--no-boot-loader")
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	out, err := cmd.CombinedOutput()
	return err, string(out)
}

func (s *site) events(node string) []installplan.Event {
	var out []installplan.Event
	for _, e := range s.mem.Events() {
		if e.Node.Node == node {
			out = append(out, e.Event)
		}
	}
	return out
}

func last(evs []installplan.Event) installplan.Event {
	if len(evs) == 0 {
		return installplan.Event{}
	}
	return evs[len(evs)-1]
}

// mounted mounts partition n of the image read-only (a loop device over its sectors, as
// sgdisk places them), for the test to read.
func mounted(t *testing.T, image string, part int) string {
	t.Helper()
	return mount(t, image, part, "ro,noload")
}

func mount(t *testing.T, image string, part int, opts string) string {
	t.Helper()
	return diskimage.Mount(t, image, part, opts)
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	markScript  = archive.Script{Name: "10-mark", Stage: archive.StageFirstBoot, Order: 10, Data: []byte("#!/bin/sh\necho \"first boot of $FLARECAST_NODE on $(cat /etc/hostname)\" > /root/firstboot\n")}
	laterScript = archive.Script{Name: "50-later", Stage: archive.StageAfterServices, Order: 50, Data: []byte("#!/bin/sh\necho later > /root/later\n")}
)

func TestSimulatedNodeInstallsTheDeployableFromItsPlan(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n1", 256*mib, installplan.Script{Name: "10-mark", Stage: "FirstBoot", Order: 10}, installplan.Script{Name: "50-later", Stage: "AfterServices", Order: 50})
	a := s.deployable("c1-g", []archive.Script{markScript, laterScript}, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n1", 256*mib)
	if err, out := s.install(n); err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	evs := s.events("n1")
	end := last(evs)
	if end.Phase != installplan.PhaseRebooting || end.InstalledDigest != a.Descriptor.Digest.String() {
		t.Fatalf("last event %+v, want Rebooting with installedDigest %s", end, a.Descriptor.Digest)
	}
	var phases []string
	var scriptEnd *installplan.Event
	for i, e := range evs {
		if len(phases) == 0 || phases[len(phases)-1] != string(e.Phase) {
			phases = append(phases, string(e.Phase))
		}
		if e.Step == "script 10-mark" && e.ExitCode != nil {
			scriptEnd = &evs[i]
		}
	}
	if got := strings.Join(phases, ">"); got != "Booting>Installing>Configuring>Rebooting" {
		t.Errorf("phases %s", got)
	}
	if scriptEnd == nil || *scriptEnd.ExitCode != 0 || scriptEnd.Stage != "FirstBoot" {
		t.Errorf("the FirstBoot script's end: %+v", scriptEnd)
	}

	// sgdisk reads the table the agent wrote on the disk image.
	table := sh(t, "sgdisk", "--print", n.image)
	for _, want := range []string{
		"1            2048           34815   16.0 MiB    8300  boot",
		"2           34816           67583   16.0 MiB    8200  swap",
		"3           67584          524254   223.0 MiB   8300  root",
		"4              34            2047   1007.0 KiB  EF02  bios-boot",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("sgdisk --print lacks %q:\n%s", want, table)
		}
	}
	root := mounted(t, n.image, 3)
	if got := read(t, filepath.Join(root, "etc/os-release")); got != "ID=flarecast-sim\n" {
		t.Errorf("os-release %q", got)
	}
	if got := read(t, filepath.Join(root, "etc/hostname")); got != "n1\n" {
		t.Errorf("hostname %q", got)
	}
	if got := read(t, filepath.Join(root, "root/firstboot")); got != "first boot of n1 on n1\n" {
		t.Errorf("the FirstBoot script's mark %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "root/later")); !os.IsNotExist(err) {
		t.Errorf("the AfterServices script ran in the installer: %v", err)
	}
	if got := read(t, filepath.Join(root, installplan.PlanDir, "n1.json")); !strings.Contains(got, `"serial": "SIM-n1"`) {
		t.Errorf("the cluster section's plan %s", got)
	}
	fstab := read(t, filepath.Join(root, "etc/fstab"))
	partuuid := strings.ToLower(sh(t, "sgdisk", "--info=3", n.image))
	if m := regexp.MustCompile(`partition unique guid: ([0-9a-f-]+)`).FindStringSubmatch(partuuid); m == nil ||
		!strings.Contains(fstab, "PARTUUID="+m[1]+"\t/\text4\tnoatime\t0\t1") {
		t.Errorf("fstab\n%s\ndoes not mount the root's partition (%s)", fstab, partuuid)
	}
	if got := read(t, filepath.Join(root, "etc/systemd/network/10-flarecast-eth0.network")); !strings.Contains(got, "MACAddress=02:00:00:00:00:01") || !strings.Contains(got, "Address=198.18.0.20/24") {
		t.Errorf("networkd %s", got)
	}
	var rec struct{ Digest string }
	if err := json.Unmarshal([]byte(read(t, filepath.Join(root, agent.InstalledRecord))), &rec); err != nil || rec.Digest != a.Descriptor.Digest.String() {
		t.Errorf("installed record %+v %v", rec, err)
	}
	if _, err := os.Stat(filepath.Join(root, "proc/self")); !os.IsNotExist(err) {
		t.Errorf("the scripts' /proc is still mounted in the installed root: %v", err)
	}
}

func TestSimulatedNodeResumesADownloadCutMidway(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n2", 256*mib)
	a := s.deployable("c1-g", nil, []installplan.Plan{p})
	s.serve(p, a, "/cut")
	n := s.newNode("n2", 256*mib)
	if err, out := s.install(n); err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	if end := last(s.events("n2")); end.InstalledDigest != a.Descriptor.Digest.String() {
		t.Fatalf("last event %+v", end)
	}
	sec, _ := a.Section(archive.SectionArchive)
	path := "/cut/blobs/" + sec.Digest.String()
	s.mu.Lock()
	ranges := s.ranges[path]
	s.mu.Unlock()
	half := sec.Size / 2
	// The first request got half the blob; the next asked for the rest only, from the byte
	// the agent had reached (the cut falls at half, give or take what was in flight).
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
		t.Fatalf("requests of %s had ranges %q, want a whole one then one resumed", path, ranges)
	}
	var from int64
	fmt.Sscanf(ranges[1], "bytes=%d-", &from)
	if from <= 0 || from > half {
		t.Fatalf("resumed from byte %d of %d, the cut was at %d", from, sec.Size, half)
	}
	root := mounted(t, n.image, 3)
	if st, err := os.Stat(filepath.Join(root, "usr/share/sim/noise")); err != nil || st.Size() != 3*mib {
		t.Fatalf("the file across the cut: %v %v", st, err)
	}
}

func TestSimulatedNodeRefusesATamperedBlobBeforeTheInstallCounts(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n3", 256*mib)
	a := s.deployable("c1-g", nil, []installplan.Plan{p})
	s.serve(p, a, "/tampered")
	n := s.newNode("n3", 256*mib)
	err, out := s.install(n)
	if err == nil {
		t.Fatalf("the agent installed a tampered archive:\n%s", out)
	}
	end := last(s.events("n3"))
	if end.Phase != installplan.PhaseFailed || end.Step != "section archive" || !strings.Contains(end.Message, "digest mismatch") ||
		!strings.Contains(end.Message, "the disks were wiped") {
		t.Fatalf("last event %+v", end)
	}
	for _, e := range s.events("n3") {
		if e.InstalledDigest != "" {
			t.Fatalf("an installed digest was reported: %+v", e)
		}
	}
	// No partition table is left for a firmware to boot.
	if table, err := exec.Command("sgdisk", "--print", n.image).CombinedOutput(); strings.Contains(string(table), "8300") || !strings.Contains(string(table), "Creating new GPT entries in memory") {
		t.Fatalf("after the refusal the disk holds (%v):\n%s", err, table)
	}
}

func TestSimulatedNodeRefusesADiskSmallerThanItsLayout(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n4", 256*mib)
	p.Disks[0].Slices[2].Size = 300 * mib // the root alone is larger than the disk
	a := s.deployable("c1-g", nil, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n4", 256*mib)
	err, out := s.install(n)
	if err == nil {
		t.Fatalf("the agent laid out a disk too small:\n%s", out)
	}
	end := last(s.events("n4"))
	if end.Phase != installplan.PhaseFailed || end.Step != "disks" ||
		!regexp.MustCompile(`^disk d0: /dev/loop\d+ holds 256\.0 MiB, less than the 333\.0 MiB its slices need$`).MatchString(end.Message) {
		t.Fatalf("last event %+v", end)
	}
	if table, _ := exec.Command("sgdisk", "--print", n.image).CombinedOutput(); !strings.Contains(string(table), "Creating new GPT entries in memory") {
		t.Fatalf("the refused disk was written:\n%s", table)
	}
}

func TestSimulatedNodeFailsWithTheNameOfAFailingFirstBootScript(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n5", 256*mib, installplan.Script{Name: "10-fail", Stage: "FirstBoot", Order: 10}, installplan.Script{Name: "20-after", Stage: "FirstBoot", Order: 20})
	a := s.deployable("c1-g", []archive.Script{
		{Name: "10-fail", Stage: archive.StageFirstBoot, Order: 10, Data: []byte("#!/bin/sh\necho configuring the widget\necho widget not found >&2\nexit 3\n")},
		{Name: "20-after", Stage: archive.StageFirstBoot, Order: 20, Data: []byte("#!/bin/sh\necho ran > /root/after\n")},
	}, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n5", 256*mib)
	err, out := s.install(n)
	if err == nil {
		t.Fatalf("the agent went on past a failing script:\n%s", out)
	}
	evs := s.events("n5")
	end := last(evs)
	if end.Phase != installplan.PhaseFailed || end.Step != "script 10-fail" || !strings.Contains(end.Message, "FirstBoot script 10-fail exited with 3") ||
		!strings.Contains(end.Message, "widget not found") {
		t.Fatalf("last event %+v", end)
	}
	for _, e := range evs {
		if e.Step == "script 10-fail" && e.ExitCode != nil && (*e.ExitCode != 3 || !strings.Contains(e.Output, "configuring the widget")) {
			t.Errorf("the script's end event %+v", e)
		}
		if e.Step == "script 20-after" || e.InstalledDigest != "" {
			t.Errorf("went on after the failure: %+v", e)
		}
	}
	root := mounted(t, n.image, 3)
	if _, err := os.Stat(filepath.Join(root, "root/after")); !os.IsNotExist(err) {
		t.Errorf("the script after the failing one ran: %v", err)
	}
}

// Six nodes of a group install at once from one install server: each lays out its own disk
// and ends with its own host name and the group's digest.
func TestSixSimulatedNodesInstallAtOnce(t *testing.T) {
	needSimPeers(t)
	agentBinary(t)
	s := newSite(t)
	var plans []installplan.Plan
	for i := 1; i <= 6; i++ {
		p := plan(fmt.Sprintf("w%d", i), 128*mib, installplan.Script{Name: "10-mark", Stage: "FirstBoot", Order: 10})
		p.NICs[0].Address = fmt.Sprintf("198.18.0.%d/24", 100+i)
		plans = append(plans, p)
	}
	a := s.deployable("c1-workers", []archive.Script{markScript}, plans)
	var nodes []*node
	for _, p := range plans {
		s.serve(p, a, "")
		nodes = append(nodes, s.newNode(p.Node, 128*mib))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	outs := make([]string, len(nodes))
	start := time.Now()
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i], outs[i] = s.install(n)
		}()
	}
	wg.Wait()
	t.Logf("6 nodes installed in %s", time.Since(start).Round(time.Millisecond))
	for i, n := range nodes {
		if errs[i] != nil {
			t.Errorf("%s: %v\n%s", n.name, errs[i], outs[i])
			continue
		}
		if end := last(s.events(n.name)); end.InstalledDigest != a.Descriptor.Digest.String() {
			t.Errorf("%s: last event %+v", n.name, end)
		}
		root := mounted(t, n.image, 3)
		if got := read(t, filepath.Join(root, "root/firstboot")); got != "first boot of "+n.name+" on "+n.name+"\n" {
			t.Errorf("%s: mark %q", n.name, got)
		}
		if got := read(t, filepath.Join(root, "etc/systemd/network/10-flarecast-eth0.network")); !strings.Contains(got, fmt.Sprintf("Address=198.18.0.%d/24", 101+i)) {
			t.Errorf("%s: networkd %s", n.name, got)
		}
	}
}

// After the install the node's own system runs the later stages with the agent the install
// left in it: BeforeServices, the second reboot once, AfterServices, then Running with the
// installed digest; a stage that ran does not run again.
func TestSimulatedNodeRunsTheLaterStagesWithTheAgentItInstalled(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n6", 256*mib, installplan.Script{Name: "20-before", Stage: "BeforeServices", Order: 20}, installplan.Script{Name: "50-later", Stage: "AfterServices", Order: 50})
	p.DoubleReboot = true
	a := s.configured("c1-g", &archive.Configuration{DoubleReboot: true, Scripts: []archive.Script{
		{Name: "20-before", Stage: archive.StageBeforeServices, Order: 20, Data: []byte("#!/bin/sh\necho \"before on $FLARECAST_NODE\" >> /root/before\n")},
		laterScript,
	}}, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n6", 256*mib)
	if err, out := s.install(n); err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	root := mount(t, n.image, 3, "rw")
	for _, u := range []string{"flarecast-before-services.service", "flarecast-services.target", "flarecast-after-services.service", "flarecast-resident.service"} {
		if target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", u)); err != nil || target != "../"+u {
			t.Errorf("%s is not enabled: %q %v", u, target, err)
		}
	}
	if st, err := os.Stat(filepath.Join(root, agent.ResidentConfig)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the resident configuration (it holds the token): %v %v", st, err)
	}
	resident := filepath.Join(root, agent.ResidentBinary)
	stage := func(name string) string {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", n.netns, resident, "stage", name, "--root", root, "--no-reboot").CombinedOutput()
		if err != nil {
			t.Fatalf("stage %s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	before := len(s.events("n6"))
	stage("BeforeServices")
	evs := s.events("n6")[before:]
	if end := last(evs); end.Phase != installplan.PhaseRebooting || end.Step != "second reboot" {
		t.Fatalf("after BeforeServices: %+v", evs)
	}
	// The second boot: BeforeServices has run, and does not run again nor reboot again.
	before = len(s.events("n6"))
	stage("BeforeServices")
	if evs := s.events("n6")[before:]; len(evs) != 0 {
		t.Errorf("BeforeServices at the second boot: %+v", evs)
	}
	stage("AfterServices")
	end := last(s.events("n6"))
	if end.Phase != installplan.PhaseRunning || end.InstalledDigest != a.Descriptor.Digest.String() {
		t.Fatalf("after AfterServices: %+v", end)
	}
	if got := read(t, filepath.Join(root, "root/before")); got != "before on n6\n" {
		t.Errorf("the BeforeServices script's mark %q", got)
	}
	if got := read(t, filepath.Join(root, "root/later")); got != "later\n" {
		t.Errorf("the AfterServices script's mark %q", got)
	}
}

// TestSimulatedNodeOfAUEFIPlanInstallsWithItsESP: a UEFI plan (the sample site's layout: the
// EFI system partition first) installs on a simulated node: the ESP is typed EF00 and made
// vfat, and the rest installs. Where this machine's kernel lacks vfat (these test machines'),
// the agent of a node that installs no boot loader leaves the ESP unmounted and says so,
// instead of failing the mount: nothing but the boot loader goes there.
func TestSimulatedNodeOfAUEFIPlanInstallsWithItsESP(t *testing.T) {
	needSimPeers(t)
	s := newSite(t)
	p := plan("n7", 256*mib)
	p.Firmware = "UEFI"
	for i := range p.Disks[0].Slices {
		p.Disks[0].Slices[i].Index++
	}
	p.Disks[0].Slices = append([]installplan.Slice{{Name: "efi", Index: 1, Size: 40 * mib, FSType: "vfat", MountPoint: "/boot/efi", Label: "EFI"}}, p.Disks[0].Slices...)
	a := s.deployable("c1-g", nil, []installplan.Plan{p})
	s.serve(p, a, "")
	n := s.newNode("n7", 256*mib)
	err, out := s.install(n)
	if err != nil {
		t.Fatalf("the agent failed: %v\n%s", err, out)
	}
	if end := last(s.events("n7")); end.Phase != installplan.PhaseRebooting || end.InstalledDigest != a.Descriptor.Digest.String() {
		t.Fatalf("last event %+v, want Rebooting with installedDigest %s", end, a.Descriptor.Digest)
	}
	table := sh(t, "sgdisk", "--print", n.image)
	if !regexp.MustCompile(`(?m)^\s+1\s+\d+\s+\d+\s+40\.0 MiB\s+EF00\s+efi`).MatchString(table) || strings.Contains(table, "EF02") {
		t.Errorf("sgdisk --print: want the ESP at 1 (EF00) and no BIOS boot partition:\n%s", table)
	}
	if blkid, _ := exec.Command("blkid", "-p", "-O", fmt.Sprint(mustStart(t, n.image, 1)*512), n.image).CombinedOutput(); !strings.Contains(string(blkid), `TYPE="vfat"`) {
		t.Errorf("the ESP holds no vfat: %s", blkid)
	}
	if !vfatMountable() && !strings.Contains(out, "EFI system partition not mounted") {
		t.Errorf("this kernel has no vfat, and the agent did not say it left the ESP unmounted:\n%s", out)
	}
	root := mounted(t, n.image, 4)
	if got := read(t, filepath.Join(root, "etc/hostname")); got != "n7\n" {
		t.Errorf("hostname %q", got)
	}
	if fstab := read(t, filepath.Join(root, "etc/fstab")); !regexp.MustCompile(`(?m)^PARTUUID=\S+\t/boot/efi\tvfat\t`).MatchString(fstab) {
		t.Errorf("fstab does not mount the ESP:\n%s", fstab)
	}
}

// mustStart is the first sector of a partition of a disk image.
func mustStart(t *testing.T, image string, part int) int64 {
	t.Helper()
	first, _ := diskimage.Partition(t, image, part)
	return first
}

// vfatMountable says whether this machine's kernel mounts vfat (built in, or its module loads).
func vfatMountable() bool {
	exec.Command("modprobe", "vfat").Run()
	b, _ := os.ReadFile("/proc/filesystems")
	return regexp.MustCompile(`(?m)\svfat$`).Match(b)
}
