package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flarecast/flarecast/internal/disklayout"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/tarball"
)

func TestTheRootFollowsThePlansRootAndWrites(t *testing.T) {
	nfs := &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/g", Digest: digestA}
	writes := &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/g/nodes/n5", Digest: digestA}
	resp := func(typ, root, w string, r, pw *installplan.NFSRoot) installplan.PlanResponse {
		return installplan.PlanResponse{Plan: installplan.Plan{NodeType: typ, Root: root, Writes: w}, Archive: installplan.Archive{Digest: digestA}, NFSRoot: r, NFSWrites: pw}
	}
	for _, c := range []struct {
		name string
		resp installplan.PlanResponse
		want rootKind
		err  string
	}{
		{"a Diskfull node installs on its disks", resp("Diskfull", "", "", nil, nil), rootDisks, ""},
		{"a Dataless node installs on its disks", resp("Dataless", "", "", nil, nil), rootDisks, ""},
		{"a Dataless node has no network root", resp("Dataless", "NFS", "", nfs, nil), 0, "only a Diskless node has"},
		{"NFS with writes left out is a tmpfs overlay", resp("Diskless", "NFS", "", nfs, nil), rootNFSOverlay, ""},
		{"the root left out is NFS", resp("Diskless", "", "Tmpfs", nfs, nil), rootNFSOverlay, ""},
		{"NFS with persistent writes is the node's own export", resp("Diskless", "NFS", "Persistent", nfs, writes), rootNFSPersistent, ""},
		{"RAM", resp("Diskless", "RAM", "", nil, nil), rootRAM, ""},
		{"RAM cannot keep writes", resp("Diskless", "RAM", "Persistent", nil, writes), 0, "a RAM root keeps nothing"},
		{"an NFS root the server does not give", resp("Diskless", "NFS", "", nil, nil), 0, "gives no NFS root"},
		{"persistent writes the server does not give", resp("Diskless", "NFS", "Persistent", nfs, nil), 0, "gives no node's read-write NFS export"},
		{"an export of another digest", resp("Diskless", "NFS", "", &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/x", Digest: digestB}, nil), 0,
			"the NFS root 198.18.0.1:2049:/x serves " + digestB + ", but the archive of the plan is " + digestA},
		{"an unknown root", resp("Diskless", "iSCSI", "", nfs, nil), 0, `root "iSCSI"`},
		{"unknown writes", resp("Diskless", "NFS", "Overlay", nfs, nil), 0, `writes "Overlay"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := decideRoot(c.resp)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// A Dataless node installs on its disk and mounts its group's data: both in one fstab. The
// install server's export (with its port) is mounted on its one port without locks; another
// server's as its portmapper and lock manager have it.
func TestSharedDataGoesIntoTheMountTableWithNFSv3Options(t *testing.T) {
	root := []laidOut{{Partition: disklayout.Partition{Slice: "root", Number: 1, PartUUID: "r-uuid", Filesystem: &disklayout.Filesystem{Type: "ext4", MountPoint: "/"}}}}
	got, err := fstab(root, []installplan.NFSMount{
		{Name: "home", MountPoint: "/home", Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/shared/home"},
		{Name: "tools", MountPoint: "/opt/tools", Server: "nfs1.example", Path: "/export/tools", ReadOnly: true, Options: []string{"noatime"}},
	})
	want := "# Written by flarecast-agent from the node's install plan.\n" +
		"PARTUUID=r-uuid\t/\text4\tdefaults\t0\t1\n" +
		"198.18.0.1:/flarecast/ns/shared/home\t/home\tnfs\tvers=3,proto=tcp,port=2049,mountport=2049,mountproto=tcp,nolock,addr=198.18.0.1,_netdev\t0\t0\n" +
		"nfs1.example:/export/tools\t/opt/tools\tnfs\tvers=3,proto=tcp,ro,noatime,_netdev\t0\t0\n"
	if err != nil || got != want {
		t.Fatalf("fstab (%v):\n%s\nwant\n%s", err, got, want)
	}
	for _, bad := range []installplan.NFSMount{
		{Name: "rel", MountPoint: "data", Server: "198.18.0.1", Path: "/d"},
		{Name: "root", MountPoint: "/", Server: "198.18.0.1", Path: "/d"},
		{Name: "blank", MountPoint: "/my data", Server: "198.18.0.1", Path: "/d"},
		{Name: "noserver", MountPoint: "/d", Path: "/d"},
		{Name: "opt", MountPoint: "/d", Server: "198.18.0.1", Path: "/d", Options: []string{"rw,suid"}},
	} {
		if _, err := fstab(nil, []installplan.NFSMount{bad}); err == nil || !strings.Contains(err.Error(), "shared data "+bad.Name) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestADisklessNodeKeepsItsProvisioningAddress(t *testing.T) {
	nics := []installplan.NIC{
		{Name: "eth0", MAC: "02:00:00:00:00:01", Network: "internal", Address: "198.18.7.1/16", Provisioning: true},
		{Name: "eth1", MAC: "02:00:00:00:00:02", Network: "external", Address: "198.19.100.1/16", Gateway: "198.19.0.1"},
	}
	files := filesByPath(networkd(nics, true))
	if got := files["etc/systemd/network/10-flarecast-eth0.network"]; !strings.Contains(got, "Address=198.18.7.1/16\nKeepConfiguration=yes\n") {
		t.Errorf("the provisioning NIC's network:\n%s", got)
	}
	if got := files["etc/systemd/network/10-flarecast-eth1.network"]; strings.Contains(got, "KeepConfiguration") {
		t.Errorf("another NIC keeps its configuration too:\n%s", got)
	}
	ifs := interfaces(nics, true)
	if strings.Contains(ifs, "iface eth0") || strings.Contains(ifs, "auto eth0") || !strings.Contains(ifs, "auto eth1\niface eth1 inet static\n\taddress 198.19.100.1/16") {
		t.Errorf("ifupdown raises the NIC under the root, or not the others:\n%s", ifs)
	}
	if got := filesByPath(networkd(nics, false))["etc/systemd/network/10-flarecast-eth0.network"]; strings.Contains(got, "KeepConfiguration") {
		t.Errorf("a disk install keeps the provisioning configuration:\n%s", got)
	}
}

// planServer is a Server that answers with one plan and keeps the events.
type planServer struct {
	events
	resp installplan.PlanResponse
}

func (p *planServer) Plan(context.Context) (installplan.PlanResponse, error) { return p.resp, nil }

func (p *planServer) last() installplan.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.evs[len(p.evs)-1]
}

// disklessTree is a root as a Debian archive holds it, small: busybox as /bin/sh, an init
// behind Debian's links (/sbin -> usr/sbin, /usr/sbin/init -> /lib/systemd/systemd, /lib ->
// usr/lib), ifupdown's interfaces, and a configuration section with one FirstBoot script.
func disklessTree(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the roots are mounted and the scripts run chrooted: root only")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox is missing: run hack/debian-deps.sh")
	}
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib/systemd", "etc/network", "root", "var/lib/flarecast/configuration/scripts"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	for link, target := range map[string]string{"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "usr/sbin/init": "/lib/systemd/systemd"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", bb, filepath.Join(root, "usr/bin/sh")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	os.WriteFile(filepath.Join(root, "usr/lib/systemd/systemd"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/network/interfaces"), []byte("source /etc/network/interfaces.d/*\n"), 0o644)
	os.WriteFile(filepath.Join(root, "var/lib/flarecast/configuration/scripts/10-mark"), []byte("#!/bin/sh\necho \"first boot of $(cat /etc/hostname)\" > /root/firstboot\n"), 0o755)
	os.WriteFile(filepath.Join(root, ConfigurationManifest), []byte(`{"schemaVersion":1,"doubleReboot":true,"scripts":[`+
		`{"name":"10-mark","order":10,"stage":"FirstBoot","path":"/var/lib/flarecast/configuration/scripts/10-mark"}]}`), 0o644)
	return root
}

func disklessPlan(root, writes string) installplan.Plan {
	return installplan.Plan{Version: installplan.Version, Namespace: "ns", Cluster: "edge", Group: "diskless", Node: "n5", Hostname: "n5",
		NodeType: "Diskless", Role: "NonMasterEligible", Arch: "amd64", Root: root, Writes: writes, DoubleReboot: true,
		NICs:    []installplan.NIC{{Name: "eth0", MAC: "52:54:00:fc:00:10", Network: "internal", Address: "198.18.0.10/24", Provisioning: true}},
		Scripts: []installplan.Script{{Name: "10-mark", Stage: StageFirstBoot, Order: 10}},
		Mounts:  []installplan.Mount{{Name: "home", MountPoint: "/home"}}}
}

// bindMount stands for the install server's export: the tree bound (read-only, as the
// kernel's NFS mount is) where the agent mounts the export.
func bindMount(tree string) NFSMounter {
	return func(_ context.Context, _ installplan.NFSRoot, at string, readOnly bool) error {
		if err := syscall.Mount(tree, at, "", syscall.MS_BIND, ""); err != nil {
			return err
		}
		if readOnly {
			return syscall.Mount("", at, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
		}
		return nil
	}
}

func unmountOnCleanup(t *testing.T, dirs ...string) {
	t.Cleanup(func() {
		for _, d := range dirs {
			for syscall.Unmount(d, syscall.MNT_DETACH) == nil {
			}
		}
	})
}

func fsMagic(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type
}

const (
	overlayMagic = 0x794c7630
	tmpfsMagic   = 0x01021994
)

func readIn(t *testing.T, root, p string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, p))
	if err != nil {
		t.Errorf("%s: %v", p, err)
	}
	return string(b)
}

func TestADisklessNFSRootIsAnOverlayOnATmpfsWithTheNodesOwnFiles(t *testing.T) {
	tree := disklessTree(t)
	work := t.TempDir()
	target, layers := filepath.Join(work, "root"), filepath.Join(work, "layers")
	unmountOnCleanup(t, target, filepath.Join(layers, "rw"), filepath.Join(layers, "lower"))
	srv := &planServer{resp: installplan.PlanResponse{Action: installplan.ActionInstall, Plan: disklessPlan("NFS", ""),
		Archive: installplan.Archive{Name: "edge-diskless", Digest: digestA, Sections: []installplan.Section{{Name: "archive", Digest: digestB, Size: 1, URL: "http://198.18.0.1:1/never"}}},
		NFSRoot: &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/diskless", Digest: digestA},
		Mounts:  []installplan.NFSMount{{Name: "home", MountPoint: "/home", Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/shared/home"}}}}
	self, _ := os.Executable()
	res, err := Run(context.Background(), Config{Server: srv, Target: target, LayerDir: layers, MountNFS: bindMount(tree),
		Resident: &Resident{Server: "http://198.18.0.1:8080", Node: "ns/edge/n5", Token: "t"}, ResidentBinary: self})
	if err != nil {
		t.Fatal(err)
	}
	if res.Root != target || res.InstalledDigest != digestA {
		t.Fatalf("result %+v", res)
	}
	if m := fsMagic(t, target); m != overlayMagic {
		t.Fatalf("the root is file system %#x, not an overlay", m)
	}
	if m := fsMagic(t, filepath.Join(layers, "rw")); m != tmpfsMagic {
		t.Fatalf("the overlay's writes are on %#x, not a tmpfs", m)
	}
	if got := readIn(t, target, "etc/hostname"); got != "n5\n" {
		t.Errorf("hostname %q", got)
	}
	if got := readIn(t, target, "root/firstboot"); got != "first boot of n5\n" {
		t.Errorf("the FirstBoot script's mark: %q", got)
	}
	if got := readIn(t, target, "etc/fstab"); !strings.Contains(got, "198.18.0.1:/flarecast/ns/shared/home\t/home\tnfs\tvers=3,proto=tcp,port=2049,mountport=2049,mountproto=tcp,nolock,addr=198.18.0.1,_netdev\t0\t0\n") || strings.Contains(got, "PARTUUID") {
		t.Errorf("fstab:\n%s", got)
	}
	if got := readIn(t, target, "etc/systemd/network/10-flarecast-eth0.network"); !strings.Contains(got, "KeepConfiguration=yes") {
		t.Errorf("networkd:\n%s", got)
	}
	if got := readIn(t, target, IfupdownFile); strings.Contains(got, "iface eth0") {
		t.Errorf("ifupdown raises the root's NIC:\n%s", got)
	}
	if root, err := NetworkRoot(target); err != nil || root != installplan.RootNFS {
		t.Errorf("the installed record says root %q (%v)", root, err)
	}
	if d, err := InstalledDigest(target); err != nil || d != digestA {
		t.Errorf("installed digest %q (%v)", d, err)
	}
	for _, p := range []string{ResidentBinary, ResidentConfig, filepath.Join(unitDir, "multi-user.target.wants", ResidentUnit), filepath.Join(StageDir, "second-boot")} {
		if _, err := os.Lstat(filepath.Join(target, p)); err != nil {
			t.Errorf("the root lacks %s: %v", p, err)
		}
	}
	// Every write went to the tmpfs: the export is as it was.
	for _, p := range []string{"etc/hostname", "root/firstboot", ResidentConfig} {
		if _, err := os.Lstat(filepath.Join(tree, p)); err == nil {
			t.Errorf("%s was written into the export", p)
		}
		if _, err := os.Lstat(filepath.Join(layers, "rw/upper", p)); err != nil {
			t.Errorf("%s is not in the overlay's upper directory: %v", p, err)
		}
	}
	last := srv.last()
	if last.Phase != installplan.PhaseRebooting || last.Step != "switch root" || last.InstalledDigest != digestA || !strings.Contains(last.Message, "second reboot is left out") {
		t.Errorf("last report %+v", last)
	}
}

func TestAPersistentNFSRootIsTheNodesOwnExportAndRunsFirstBootOncePerDigest(t *testing.T) {
	tree := disklessTree(t)
	work := t.TempDir()
	target := filepath.Join(work, "root")
	unmountOnCleanup(t, target)
	plan := disklessPlan("NFS", "Persistent")
	plan.Mounts = nil
	srv := &planServer{resp: installplan.PlanResponse{Action: installplan.ActionInstall, Plan: plan,
		Archive:   installplan.Archive{Name: "edge-diskless", Digest: digestA, Sections: []installplan.Section{{Name: "archive", Digest: digestB, Size: 1, URL: "http://198.18.0.1:1/never"}}},
		NFSRoot:   &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/diskless", Digest: digestA},
		NFSWrites: &installplan.NFSRoot{Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/diskless/nodes/n5", Digest: digestA}}}
	boot := func() {
		t.Helper()
		res, err := Run(context.Background(), Config{Server: srv, Target: target, LayerDir: filepath.Join(work, "layers"), MountNFS: bindMount(tree)})
		if err != nil || res.Root != target {
			t.Fatalf("%+v, %v", res, err)
		}
		if err := syscall.Unmount(target, 0); err != nil {
			t.Fatal(err)
		}
	}
	boot()
	// The writes are the export's own: they are there after the node is gone.
	if got := readIn(t, tree, "root/firstboot"); got != "first boot of n5\n" {
		t.Fatalf("the FirstBoot mark in the export: %q", got)
	}
	if _, err := os.Stat(filepath.Join(tree, StageDir, "second-boot")); err == nil {
		t.Errorf("a persistent root skips the second reboot")
	}
	os.WriteFile(filepath.Join(tree, "root/firstboot"), []byte("kept\n"), 0o644)
	os.MkdirAll(filepath.Join(tree, StageDir), 0o755)
	os.WriteFile(filepath.Join(tree, StageDir, "after-services.done"), nil, 0o644)
	boot()
	if got := readIn(t, tree, "root/firstboot"); got != "kept\n" {
		t.Errorf("the FirstBoot script ran again at the second boot of the same digest: %q", got)
	}
	if _, err := os.Stat(filepath.Join(tree, StageDir, "after-services.done")); err != nil {
		t.Errorf("the stages' state of the same digest is gone: %v", err)
	}
	srv.resp.Archive.Digest, srv.resp.NFSRoot.Digest, srv.resp.NFSWrites.Digest = digestB, digestB, digestB
	boot()
	if got := readIn(t, tree, "root/firstboot"); got != "first boot of n5\n" {
		t.Errorf("the FirstBoot script did not run at the first boot of a new digest: %q", got)
	}
	if _, err := os.Stat(filepath.Join(tree, StageDir, "after-services.done")); err == nil {
		t.Errorf("the stages of the old digest still count as done")
	}
}

// sectionOf packs a directory as a section served by a test server: its bytes as served,
// possibly changed after their digest was taken.
func sectionOf(t *testing.T, dir string, tamper bool) installplan.Section {
	t.Helper()
	var buf bytes.Buffer
	st, err := tarball.Pack(context.Background(), tarball.DirSource(dir), &buf, tarball.PackOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	blob := buf.Bytes()
	sum := sha256.Sum256(blob)
	sec := installplan.Section{Name: "archive", MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Digest: "sha256:" + hex.EncodeToString(sum[:]), DiffID: st.DiffID, Size: int64(len(blob))}
	if tamper {
		blob = bytes.Clone(blob)
		blob[len(blob)/2] ^= 0x20
	}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("ETag", `"`+sec.Digest+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
	}))
	t.Cleanup(srv.Close)
	sec.URL = srv.URL + "/blobs/" + sec.Digest
	return sec
}

func TestARAMRootHoldsTheVerifiedSectionsAndRefusesATamperedOne(t *testing.T) {
	tree := disklessTree(t)
	t.Run("too small", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "root")
		unmountOnCleanup(t, target)
		plan := disklessPlan("RAM", "")
		plan.Mounts = nil
		srv := &planServer{resp: installplan.PlanResponse{Action: installplan.ActionInstall, Plan: plan,
			Archive: installplan.Archive{Name: "edge-diskless", Digest: digestA, Sections: []installplan.Section{sectionOf(t, tree, false)}}}}
		_, err := Run(context.Background(), Config{Server: srv, Target: target, RAMRootSize: 1 << 20})
		if err == nil || !strings.Contains(err.Error(), "section archive: ") || !strings.Contains(err.Error(), "does not fit in the RAM root's 1 MiB") ||
			!strings.Contains(err.Error(), "the RAM root was discarded") {
			t.Fatalf("a RAM root smaller than the archive: %v", err)
		}
	})
	for _, tamper := range []bool{false, true} {
		t.Run(map[bool]string{false: "verified", true: "tampered"}[tamper], func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "root")
			unmountOnCleanup(t, target)
			sec := sectionOf(t, tree, tamper)
			plan := disklessPlan("RAM", "")
			plan.Mounts = nil
			srv := &planServer{resp: installplan.PlanResponse{Action: installplan.ActionInstall, Plan: plan,
				Archive: installplan.Archive{Name: "edge-diskless", Digest: digestA, Sections: []installplan.Section{sec}}}}
			res, err := Run(context.Background(), Config{Server: srv, Target: target, RAMRootSize: 64 << 20})
			if tamper {
				var se *StepError
				if !errors.As(err, &se) || se.Step != "section archive" || !strings.Contains(se.Error(), "digest mismatch") || !strings.Contains(se.Error(), "the RAM root was discarded") {
					t.Fatalf("a tampered section: %v", err)
				}
				if res.Root != "" || res.InstalledDigest != "" {
					t.Errorf("result %+v", res)
				}
				if m := fsMagic(t, target); m == tmpfsMagic {
					t.Errorf("the RAM root is still mounted")
				}
				if last := srv.last(); last.Phase != installplan.PhaseFailed || last.Step != "section archive" || last.InstalledDigest != "" {
					t.Errorf("last report %+v", last)
				}
				return
			}
			if err != nil || res.Root != target || res.InstalledDigest != digestA {
				t.Fatalf("%+v, %v", res, err)
			}
			if m := fsMagic(t, target); m != tmpfsMagic {
				t.Fatalf("the RAM root is on %#x, not a tmpfs", m)
			}
			if got := readIn(t, target, "root/firstboot"); got != "first boot of n5\n" {
				t.Errorf("the FirstBoot mark: %q", got)
			}
			if _, err := resolveIn(target, RootInit); err != nil {
				t.Errorf("the extracted root's init: %v", err)
			}
			if root, err := NetworkRoot(target); err != nil || root != installplan.RootRAM {
				t.Errorf("the installed record says root %q (%v)", root, err)
			}
		})
	}
}

func TestTheRootsInitIsFoundThroughTheRootsOwnLinks(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/sbin"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755)
	os.Symlink("usr/sbin", filepath.Join(root, "sbin"))
	os.Symlink("usr/lib", filepath.Join(root, "lib"))
	os.Symlink("/lib/systemd/systemd", filepath.Join(root, "usr/sbin/init"))
	if _, err := resolveIn(root, RootInit); err == nil {
		t.Fatal("an init that is not there was found")
	}
	os.WriteFile(filepath.Join(root, "usr/lib/systemd/systemd"), []byte("x"), 0o644)
	if _, err := resolveIn(root, RootInit); err == nil || !strings.Contains(err.Error(), "not an executable file") {
		t.Fatalf("a file that is not executable: %v", err)
	}
	os.Chmod(filepath.Join(root, "usr/lib/systemd/systemd"), 0o755)
	got, err := resolveIn(root, RootInit)
	if err != nil || got != filepath.Join(root, "usr/lib/systemd/systemd") {
		t.Fatalf("got %q, %v", got, err)
	}
	os.Symlink("/loop", filepath.Join(root, "loop"))
	if _, err := resolveIn(root, "/loop"); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("a link to itself: %v", err)
	}
}

// A Dataless node installs on its disk as a Diskfull one does (a directory root here) and
// gets its group's shared data in the installed fstab; shared data the install server does
// not resolve fails the node before anything is written.
func TestADatalessInstallMountsItsGroupsSharedData(t *testing.T) {
	tree := disklessTree(t)
	sec := sectionOf(t, tree, false)
	plan := disklessPlan("", "")
	plan.NodeType = "Dataless"
	plan.Disks = []installplan.Disk{{Name: "d0", Size: 64 << 20, Slices: []installplan.Slice{{Name: "root", Index: 1, FSType: "ext4", MountPoint: "/"}}}}
	resp := installplan.PlanResponse{Action: installplan.ActionInstall, Plan: plan,
		Archive: installplan.Archive{Name: "edge-dataless", Digest: digestA, Sections: []installplan.Section{sec}},
		Mounts:  []installplan.NFSMount{{Name: "home", MountPoint: "/home", Server: "198.18.0.1", Port: 2049, Path: "/flarecast/ns/shared/home"}}}
	target := t.TempDir()
	res, err := Run(context.Background(), Config{Server: &planServer{resp: resp}, Target: target, DirectoryRoot: true})
	if err != nil || res.InstalledDigest != digestA || res.Root != "" {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := readIn(t, target, "etc/fstab"); !strings.HasSuffix(got, "198.18.0.1:/flarecast/ns/shared/home\t/home\tnfs\tvers=3,proto=tcp,port=2049,mountport=2049,mountproto=tcp,nolock,addr=198.18.0.1,_netdev\t0\t0\n") {
		t.Errorf("fstab:\n%s", got)
	}
	if root, err := NetworkRoot(target); err != nil || root != "" {
		t.Errorf("a disk install records root %q (%v)", root, err)
	}
	if got := readIn(t, target, IfupdownFile); !strings.Contains(got, "iface eth0 inet static") {
		t.Errorf("a disk install does not raise its provisioning NIC:\n%s", got)
	}

	resp.Mounts = nil
	srv := &planServer{resp: resp}
	_, err = Run(context.Background(), Config{Server: srv, Target: t.TempDir(), DirectoryRoot: true})
	if err == nil || !strings.Contains(err.Error(), "the plan names shared data home (at /home), which the install server does not say where to mount") {
		t.Fatalf("unresolved shared data: %v", err)
	}
	if last := srv.last(); last.Phase != installplan.PhaseFailed || last.Step != "plan" {
		t.Errorf("last report %+v", last)
	}
}
