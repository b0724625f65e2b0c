package installserver_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/agent"
	"github.com/flarecast/flarecast/internal/agentapi"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/installplan"
	"github.com/flarecast/flarecast/internal/installserver"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/tarball"
)

// prototypeTree is the base of the masters' deployable: what a hand-tuned node starts from,
// with what a capture must keep (a capability, a user xattr, hard links, a symlink, an empty
// directory, modes and owners).
func prototypeTree(t *testing.T) string {
	t.Helper()
	tree := t.TempDir()
	files := map[string]string{
		"etc/os-release": "ID=flarecast-test\nVERSION_ID=proto\n", "usr/bin/tool": "#!/bin/sh\necho tool\n",
		"usr/bin/ping": "not really ping\n", "etc/ssh/sshd_config": "PermitRootLogin no\n", "srv/data/.keep": "",
	}
	for p, data := range files {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(tree, p), []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(tree, "var/empty"), 0o711)
	os.MkdirAll(filepath.Join(tree, "proc"), 0o555)
	os.MkdirAll(filepath.Join(tree, "tmp"), 0o1777)
	unix.Chmod(filepath.Join(tree, "tmp"), 0o1777) // os.Chmod takes os.ModeSticky, not 0o1000
	if err := os.Link(filepath.Join(tree, "usr/bin/tool"), filepath.Join(tree, "usr/bin/tool-again")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("tool", filepath.Join(tree, "usr/bin/tool-link"))
	os.Chown(filepath.Join(tree, "srv/data"), 1000, 1000)
	// cap_net_raw+ep, VFS_CAP_REVISION_2.
	capNetRaw := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	if err := unix.Lsetxattr(filepath.Join(tree, "usr/bin/ping"), "security.capability", capNetRaw, 0); err != nil {
		t.Skipf("this file system keeps no capabilities: %v", err)
	}
	if err := unix.Lsetxattr(filepath.Join(tree, "usr/bin/tool"), "user.tuned", []byte("yes"), 0); err != nil {
		t.Skipf("this file system keeps no user xattrs: %v", err)
	}
	return tree
}

// prototypeDeployable is the masters' deployable in store, built on tree, with plans that
// install m1 and m2 into directory roots, each changed by edit when it is not nil.
func prototypeDeployable(t *testing.T, store repository.Store, ns, tree string, edit func(*installplan.Plan)) *deployable {
	t.Helper()
	ctx := context.Background()
	created := time.Unix(1700000000, 0).UTC()
	base, _, err := archive.Create(ctx, store, tarball.DirSource(tree), archive.CreateOptions{Name: "proto-base", Architecture: "amd64", OS: "linux", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	cl := &archive.ClusterSection{Files: []archive.File{{Path: "/etc/chrony/chrony.conf", Data: []byte("server 198.18.0.1 iburst\n")}}}
	for i, n := range []string{"m1", "m2"} {
		cl.Nodes = append(cl.Nodes, archive.Node{Name: n, ID: i + 1, Group: "masters"})
		p := installplan.Plan{Version: installplan.Version, Namespace: ns, Cluster: "edge", Group: "masters", Node: n, Hostname: n,
			NodeType: "Diskfull", Role: "MasterEligible", Firmware: "UEFI", Arch: "amd64",
			Mounts: []installplan.Mount{{Name: "shared", MountPoint: "/srv/data", Server: "198.18.0.1", Path: "/shared"}}}
		if edit != nil {
			edit(&p)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		cl.Files = append(cl.Files, archive.File{Path: "/" + installplan.PlanDir + "/" + n + ".json", Data: b})
	}
	load := &archive.SoftwareLoadDescriptor{Cluster: "edge", Domain: 7, Groups: []archive.GroupLoad{{Name: "masters", Archive: base.Digest, Nodes: []string{"m1", "m2"}}}}
	res, err := archive.Derive(ctx, store, archive.DeriveOptions{Base: "proto-base", Name: "edge-masters", Type: archive.Deployable, Cluster: cl,
		SoftwareLoad: load, NodesGroup: "masters", Created: &created})
	if err != nil {
		t.Fatal(err)
	}
	return &deployable{store: store, digest: res.Descriptor.Digest.String(), desc: res.Descriptor, group: "masters"}
}

// startCaptureServer is startRolloutServer that also returns the manager's cached client,
// for the FlashArchive reconciler the test drives.
func startCaptureServer(t *testing.T, ns string, store repository.Store) (string, client.Client) {
	t.Helper()
	ts := startServer(t, ns, serverSetup{store: store, groups: true, clusters: true, serves: "m1"})
	return ts.URL, ts.Cached
}

// reconcileArchives runs the real FlashArchive reconciler over the named archives until the
// test ends. It is driven by the test, not registered with the manager: registered, it would
// also rebuild the hand-published deployable, which this suite makes without a model build.
func reconcileArchives(t *testing.T, c client.Client, store repository.Store, repo string, ns string, names ...string) {
	t.Helper()
	exec, err := executor.NewLocal(executor.LocalOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r := &controllers.FlashArchiveReconciler{Client: c, APIReader: k8s, Executor: exec, Repository: repo, Store: store,
		InputsKey: []byte("inputs key of the capture test"), Models: modelsource.New(c)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			for _, n := range names {
				if _, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: n}}); err != nil && ctx.Err() == nil {
					t.Logf("reconcile %s: %v", n, err)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// cutOnce is a node's capture client whose first upload the network cuts midway.
type cutOnce struct {
	*agentapi.Client
	after int64
	cuts  atomic.Int32
}

type cutReader struct {
	r    io.Reader
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, syscall.ECONNRESET
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

func (c *cutOnce) Capture(ctx context.Context, archive string, body io.Reader, mounts []string) (installplan.CaptureResult, error) {
	if c.cuts.Add(1) == 1 {
		body = &cutReader{r: body, left: c.after}
	}
	return c.Client.Capture(ctx, archive, body, mounts)
}

// treeLines describes a tree as sorted lines (path, type, mode, owner, content digest, link
// target, kept xattrs, hard-link group), leaving out what exclude matches.
func treeLines(t *testing.T, root string, exclude []string) []string {
	t.Helper()
	var out []string
	first := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel != "." && installplan.CaptureExcluded(exclude, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
			if st.Nlink > 1 {
				if f, ok := first[st.Ino]; ok {
					line += " linked to " + f
				} else {
					first[st.Ino] = rel
				}
			}
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		for _, x := range []string{"security.capability", "user.tuned"} {
			buf := make([]byte, 256)
			if n, err := unix.Lgetxattr(p, x, buf); err == nil {
				line += fmt.Sprintf(" %s=%x", x, buf[:n])
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func blobsIn(t *testing.T, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repo, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func captureArchive(t *testing.T, ns, name string, limits ...*fcv1.BuildLimits) {
	t.Helper()
	fa := &fcv1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: fcv1.FlashArchiveSpec{Type: fcv1.ArchiveGeneric, Arch: "amd64",
		Source: &fcv1.ArchiveSource{Capture: &fcv1.CaptureSource{NodesGroupRef: fcv1.LocalObjectReference{Name: "masters"}, Node: "m1"}}}}
	if len(limits) > 0 {
		fa.Spec.Limits = limits[0]
	}
	if err := k8s.Create(context.Background(), fa); err != nil {
		t.Fatal(err)
	}
}

func readyArchive(t *testing.T, ns, name string) *fcv1.FlashArchive {
	t.Helper()
	var fa fcv1.FlashArchive
	eventually(t, 60*time.Second, "FlashArchive "+name+" Ready", func() bool {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &fa); err != nil {
			t.Fatal(err)
		}
		if fa.Status.Phase == fcv1.ArchiveFailed {
			t.Fatalf("FlashArchive %s failed: %+v", name, fa.Status)
		}
		return fa.Status.Phase == fcv1.ArchiveReady
	})
	return &fa
}

// prototypeSite applies the sample site in a namespace of its own and publishes the masters'
// deployable (prototypeDeployable on prototypeTree, its plans changed by edit) from a
// repository of the test's.
func prototypeSite(t *testing.T, edit func(*installplan.Plan)) (ns, repo string, store repository.Store, d *deployable) {
	t.Helper()
	ns = newNamespace(t)
	applySamples(t, ns)
	repo = filepath.Join(t.TempDir(), "repo")
	store, err := repository.Open(context.Background(), repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d = prototypeDeployable(t, store, ns, prototypeTree(t), edit)
	d.publish(t, ns)
	return ns, repo, store, d
}

// tuneNode writes into a running node's root a person's tuning (opt/app/tuned.conf) and what
// the node holds of its own (a host key, machine-id, /proc and /tmp contents, the shared
// mount's data), and the files of extra.
func tuneNode(t *testing.T, root string, extra map[string]string) {
	t.Helper()
	files := map[string]string{
		"opt/app/tuned.conf": "threads=64\n", "etc/ssh/ssh_host_ed25519_key": "PRIVATE\n", "etc/machine-id": "0123456789abcdef0123456789abcdef\n",
		"proc/1/status": "Name: init\n", "tmp/scratch": "x\n", "srv/data/big.bin": "shared data\n",
	}
	maps.Copy(files, extra)
	for p, data := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkCapture checks the archive a Ready capture FlashArchive names: a Generic archive of
// node m1 whose config lists the exclusions of its status (the node's identity, the agent's
// and the cluster section's files, the pseudo file systems' and the shared mount's contents,
// and excluded), and whose tree is the node's root less them: modes, owners, contents,
// symlinks, hard links, the capability and the xattr. The tree holds the tuning (tuneNode)
// and present, and none of the node's own files nor absent.
func checkCapture(t *testing.T, store repository.Store, ns string, fa *fcv1.FlashArchive, root string, excluded, present, absent []string) {
	t.Helper()
	a, err := archive.Load(context.Background(), store, fa.Status.Digest)
	if err != nil {
		t.Fatal(err)
	}
	listed := fa.Status.Capture.Excluded
	if a.Config.Type != archive.Generic || a.Config.Inputs[installserver.InputCaptureExclude] != strings.Join(listed, "\n") ||
		!strings.HasPrefix(a.Config.Inputs[installserver.InputCaptureNode], ns+"/edge/m1 ") {
		t.Fatalf("config %s with inputs %q: want a Generic archive of node m1 listing the exclusions %q", a.Config.Type, a.Config.Inputs, listed)
	}
	for _, want := range append([]string{"proc/*", "tmp/*", "etc/machine-id", "etc/ssh/ssh_host_*", "etc/flarecast", "var/lib/flarecast",
		"etc/hostname", "etc/chrony/chrony.conf", "srv/data/*"}, excluded...) {
		if !slices.Contains(listed, want) {
			t.Errorf("exclusions %q lack %s", listed, want)
		}
	}
	got := t.TempDir()
	if _, err := archive.Extract(context.Background(), store, fa.Status.Digest, got, archive.ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	node, captured := treeLines(t, root, listed), treeLines(t, got, nil)
	t.Logf("exclusions %q\ncaptured tree:\n%s", listed, strings.Join(captured, "\n"))
	if !slices.Equal(node, captured) {
		t.Fatalf("the captured tree is not the node's root less the exclusions:\nnode:\n%s\ncaptured:\n%s", strings.Join(node, "\n"), strings.Join(captured, "\n"))
	}
	for _, p := range append([]string{"opt/app/tuned.conf", "usr/bin/ping", "proc", "srv/data"}, present...) {
		if _, err := os.Lstat(filepath.Join(got, p)); err != nil {
			t.Errorf("the capture lacks %s: %v", p, err)
		}
	}
	for _, p := range append([]string{"etc/ssh/ssh_host_ed25519_key", "etc/machine-id", agent.ResidentConfig, "proc/1", "srv/data/big.bin"}, absent...) {
		if _, err := os.Lstat(filepath.Join(got, p)); err == nil {
			t.Errorf("the capture holds %s", p)
		}
	}
}

// TestCaptureOfASimulatedNodeGivesAGenericArchiveOfItsRoot: a simulated node (the real agent,
// a directory root) installs the masters' deployable and runs its resident agent; a person
// tunes it (a file of its own) and it has what is the node's alone (host keys, machine-id,
// the agent's token, the pseudo file systems' contents, a shared mount's data). A capture
// FlashArchive of the node becomes a Ready Generic archive whose tree is the node's root less
// the exclusions its status and its inputs list, capabilities, xattrs and hard links kept. The
// same node captured again gives the same digest; a capture whose first upload is cut is
// asked again, and the cut leaves no blob behind.
func TestCaptureOfASimulatedNodeGivesAGenericArchiveOfItsRoot(t *testing.T) {
	needAPI(t)
	ns, repo, store, _ := prototypeSite(t, nil)
	server, cached := startCaptureServer(t, ns, store)
	reconcileArchives(t, cached, store, repo, ns, "proto", "proto-again", "proto-small")

	root := filepath.Join(t.TempDir(), "m1")
	os.MkdirAll(root, 0o755)
	ref := agentapi.NodeRef{Namespace: ns, Cluster: "edge", Node: "m1"}
	tok := installplan.Token(testSecret, ns, "edge", "m1")
	c, err := agentapi.NewClient(server, ref, tok, agentapi.ClientOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.InstallInPlace(context.Background(), agent.Config{Server: c, Target: root,
		Resident: &agent.Resident{Server: server, Node: ref.String(), Token: tok}, ProgressEvery: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tuneNode(t, root, nil)
	capturer := &cutOnce{Client: c, after: 4096}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := agent.RunResident(ctx, agent.ResidentLoop{Server: c, Root: root, Interval: 300 * time.Millisecond, Capturer: capturer,
			Reinstall: func(context.Context, installplan.PlanResponse) error { return errors.New("not in this test") }})
		if err != nil && ctx.Err() == nil {
			t.Errorf("resident agent: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// The first capture's first upload is cut 4 KiB in: nothing is stored, the node is asked
	// again.
	before := blobsIn(t, repo)
	captureArchive(t, ns, "proto")
	fa := readyArchive(t, ns, "proto")
	if fa.Status.Capture == nil || fa.Status.Capture.Attempts != 2 || capturer.cuts.Load() != 2 {
		t.Fatalf("status.capture %+v after %d uploads: want the cut upload and its retry", fa.Status.Capture, capturer.cuts.Load())
	}
	if fa.Status.Digest != fa.Status.Capture.Digest || fa.Status.Location != repo+":"+ns+".proto" {
		t.Fatalf("status %+v: want the captured digest, stored under %s.proto", fa.Status, ns)
	}
	checkCapture(t, store, ns, fa, root, nil, nil, nil)

	// What no archive asks is refused before anything is read: a made capture, another node's,
	// one that does not exist.
	m2, err := agentapi.NewClient(server, agentapi.NodeRef{Namespace: ns, Cluster: "edge", Node: "m2"}, installplan.Token(testSecret, ns, "edge", "m2"), agentapi.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who     *agentapi.Client
		archive string
	}{{c, "proto"}, {m2, "proto"}, {c, "nope"}} {
		_, err := tc.who.Capture(context.Background(), tc.archive, strings.NewReader("not a tar"), nil)
		var se *agentapi.StatusError
		if !errors.As(err, &se) || se.Code != 409 {
			t.Errorf("PUT capture %s by %s: %v, want 409", tc.archive, tc.who.Node().Node, err)
		}
	}

	// Again, into another archive: the same digest, and nothing more in the repository than the
	// new name (the blobs are the first capture's).
	captureArchive(t, ns, "proto-again")
	again := readyArchive(t, ns, "proto-again")
	if again.Status.Digest != fa.Status.Digest {
		t.Fatalf("the same node captured twice: %s, then %s", fa.Status.Digest, again.Status.Digest)
	}
	after := blobsIn(t, repo)
	var added []string
	for _, b := range after {
		if !slices.Contains(before, b) {
			added = append(added, b)
		}
	}
	// Manifest, config and binary section of the capture; the cut upload left no blob, and no
	// ingest temporary file.
	if len(added) != 3 {
		t.Fatalf("the captures added %d files to the repository's blobs, want 3 (manifest, config, section): %q", len(added), added)
	}
	for _, b := range added {
		if !strings.Contains(fa.Status.Digest+fmt.Sprint(fa.Status.Sections), b) {
			t.Errorf("blob %s is none of the capture's (%s, %v)", b, fa.Status.Digest, fa.Status.Sections)
		}
	}

	// An archive whose maxSize the node's root passes stores nothing, and says why.
	before = blobsIn(t, repo)
	captureArchive(t, ns, "proto-small", &fcv1.BuildLimits{MaxSize: "4Ki"})
	var small fcv1.FlashArchive
	eventually(t, 30*time.Second, "the upload past maxSize refused", func() bool {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "proto-small"}, &small); err != nil {
			t.Fatal(err)
		}
		c := small.Status.Capture
		return c != nil && c.Attempts >= 1 && strings.Contains(c.Message, "larger than the MaxBytes limit") && c.Digest == ""
	})
	if small.Status.Phase == fcv1.ArchiveReady || !slices.Equal(blobsIn(t, repo), before) {
		t.Fatalf("an upload past maxSize: phase %s, blobs %q (before %q)", small.Status.Phase, blobsIn(t, repo), before)
	}
}
