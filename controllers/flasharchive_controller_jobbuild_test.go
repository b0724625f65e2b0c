package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/controllers"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/executor/build/buildtest"
	"github.com/flarecast/flarecast/internal/repository"
)

// podUsers is where the fake kubelet maps a user-namespaced pod's users on the host, as a
// kubelet gives each such pod a range of 65536 of its own.
const podUsers = 100000

// podDir is a directory for what a pod sees (its volumes, its binary, the repository claim),
// reachable by a pod's root mapped to podUsers: the tests' temporary directories are 0700 and
// owned by the host's root, whom a user namespace does not map.
func podDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Dir(os.TempDir()), "flarecast-pod-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runPod plays the kubelet for the build pod of job: the container's own command (the test
// binary as /flarecast), arguments and environment, its volumes as directories under dir (the
// request Secret's keys written there, emptyDirs made), and its security context: a pod with
// hostUsers: false runs in a user namespace of its own, its uid 0 mapped to podUsers and the
// volumes owned by that user, with only the capabilities the container adds (setpriv's
// bounding set). Seccomp and AppArmor are the runtime's, which this host does not play. It
// returns the exit code and the termination message.
func runPod(t *testing.T, job *batchv1.Job, dir string) (int, []byte) {
	t.Helper()
	return startPod(t, job, dir).wait(t)
}

// podProcess is a build pod's container as startPod runs it.
type podProcess struct {
	cmd         *exec.Cmd
	out         bytes.Buffer
	termination string
	// bounding is the container's capability bounding set, for setpriv ("" when it keeps all).
	bounding string
	// userns: the container runs in a user namespace of its own (hostUsers: false).
	userns bool
	// env is the container's environment; bin is its command, as a file here.
	env []string
	bin string
}

// startPod starts what runPod runs and returns at once; env is added to the container's
// environment (the test's own settings of the test binary the pod runs).
func startPod(t *testing.T, job *batchv1.Job, dir string, env ...string) *podProcess {
	t.Helper()
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	sec := get(t, job.Namespace, job.Name, &corev1.Secret{})
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	local := map[string]string{} // mount path in the pod → directory here
	owned := []string{filepath.Join(dir, "volumes")}
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		switch {
		case v.Secret != nil:
			d := filepath.Join(dir, "volumes", m.Name)
			os.MkdirAll(d, 0o755)
			for k, b := range sec.Data {
				if err := os.WriteFile(filepath.Join(d, k), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			local[m.MountPath] = d
		case v.EmptyDir != nil:
			d := filepath.Join(dir, "volumes", m.Name)
			os.MkdirAll(d, 0o755)
			local[m.MountPath] = d
		case v.PersistentVolumeClaim != nil: // the repository: the manager's directory, at its path
			os.MkdirAll(m.MountPath, 0o755)
			owned = append(owned, m.MountPath)
		}
	}
	termination := filepath.Join(dir, "termination-log")
	local[c.TerminationMessagePath] = termination
	// The kubelet makes the file, writable by the container's user.
	if err := os.WriteFile(termination, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	owned = append(owned, termination)
	args := append([]string(nil), c.Args...)
	for i, a := range args {
		for p, d := range local {
			if a == p || strings.HasPrefix(a, p+"/") {
				args[i] = d + strings.TrimPrefix(a, p)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, strings.TrimPrefix(c.Command[0], "/"))
	if err := copyExecutable(self, bin); err != nil {
		t.Fatal(err)
	}
	env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", asCLI + "=1"}, env...)
	if d, ok := local["/tmp"]; ok {
		env = append(env, "TMPDIR="+d)
	}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	argv := append([]string{bin}, args...)
	p := &podProcess{termination: termination, env: env, bin: bin}
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if pod.HostUsers != nil && !*pod.HostUsers {
		p.userns = true
		for _, d := range owned {
			if err := chownTree(d, podUsers); err != nil {
				t.Fatal(err)
			}
		}
		attr.Cloneflags = syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: podUsers, Size: 65536}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: podUsers, Size: 65536}}
		attr.GidMappingsEnableSetgroups = true
		attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if sc := c.SecurityContext; sc != nil && (sc.Privileged == nil || !*sc.Privileged) && sc.Capabilities != nil {
		bounding := "-all"
		for _, cp := range sc.Capabilities.Add {
			bounding += ",+" + strings.ToLower(string(cp))
		}
		p.bounding = bounding
		argv = append([]string{"setpriv", "--bounding-set", bounding, "--inh-caps", "-all", "--"}, argv...)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env, p.cmd.SysProcAttr = env, attr
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("run the pod's command %v: %v", argv, err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// wait waits for the container to end and returns its exit code and termination message.
func (p *podProcess) wait(t *testing.T) (int, []byte) {
	t.Helper()
	err := p.cmd.Wait()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run the pod's command %v: %v", p.cmd.Args, err)
	}
	msg, _ := os.ReadFile(p.termination)
	if code != 0 {
		t.Logf("the pod's output:\n%s", p.out.Bytes()[max(0, p.out.Len()-3000):])
	}
	return code, msg
}

// exec plays kubectl exec into the container: argv runs in the container's user namespace
// (nsenter), with its capability bounding set and environment; argv[0] is the image's
// flarecast, as the file this test runs.
func (p *podProcess) exec(argv ...string) *exec.Cmd {
	argv = append([]string{p.bin}, argv[1:]...)
	if p.bounding != "" {
		argv = append([]string{"setpriv", "--bounding-set", p.bounding, "--inh-caps", "-all", "--"}, argv...)
	}
	if p.userns {
		argv = append([]string{"nsenter", "--target", strconv.Itoa(p.cmd.Process.Pid), "--user"}, argv...)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = p.env
	return c
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chownTree gives dir and what it holds to uid (and the group of that number), as the
// kubelet's idmapped volumes show them to a user-namespaced pod.
func chownTree(dir string, uid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// buildAsHostRoot builds req again as the host's root does (what the local executor runs),
// into a repository of its own, and returns its result.
func buildAsHostRoot(t *testing.T, req build.Request) build.Result {
	t.Helper()
	req.Repository = filepath.Join(t.TempDir(), "repo")
	reqFile := filepath.Join(t.TempDir(), "request.json")
	b, _ := json.Marshal(req)
	os.WriteFile(reqFile, b, 0o600)
	resultFile := filepath.Join(t.TempDir(), "result.json")
	if code := runCLI([]string{"archive", "build", "--request", reqFile, "--result", resultFile, "--work-dir", t.TempDir()}); code != 0 {
		t.Fatalf("archive build as the host's root exited %d", code)
	}
	var res build.Result
	if b, err := os.ReadFile(resultFile); err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("result: %s %v", b, err)
	}
	return res
}

// requireUserNamespacedPods skips a test that plays a user-namespaced pod where it cannot:
// mapping the pod's users needs root, and the tools (util-linux's setpriv, nsenter) must be there.
func requireUserNamespacedPods(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mapping a pod's users needs root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is missing (util-linux)")
		}
	}
}

// A build source (the Debian base and a NodesGroup's package installed with apt) runs as a
// Job whose pod gets what docs/security.md says (root of a user namespace of its own, the
// build image, the capabilities its build root needs) and nothing more: the test runs the
// pod's command in a user namespace with only those capabilities, and the archive becomes
// Ready with the package in it and the same digest as the same request built as the host's
// root (the base's device nodes, which root of a user namespace may not make, packed from
// their stand-ins).
func TestJobExecutorBuildsABuildSourceInAUserNamespacedPod(t *testing.T) {
	requireUserNamespacedPods(t, "setpriv")
	ns := newNamespace(t)
	dir := podDir(t)
	src := filepath.Join(dir, "sources")
	os.Mkdir(src, 0o755)
	url, dgst := buildtest.Base(t, src)
	aptRepo := buildtest.Repo(t, buildtest.Package{Name: "flarecast-hello", Version: "1.2-3",
		Files: map[string]string{"/usr/share/flarecast-hello/greeting": "hello\n"}})
	repo := filepath.Join(dir, "repo")
	startJobManagerFor(t, ns, controllers.ArchiveOptions{Repository: repo, Executor: controllers.ExecutorJob,
		Job: executor.JobOptions{Image: "registry.example/flarecast:test", BuildImage: "registry.example/flarecast-builder:test",
			RepositoryClaim: "archives", RepositoryPath: repo},
		Limits: build.Limits{AllowFileSources: []string{src}, AllowBuildSources: true}})
	fa := buildArchive(ns, "master", url, dgst, "workers", []string{aptRepo})
	fa.Labels = map[string]string{jobExecutorLabel: "job"}
	g := bareGroup(ns, "workers", "")
	g.Spec.Software.Packages = []fcv1.Package{{Name: "flarecast-hello", Version: "1.2-3"}}
	createAll(t, ns, []client.Object{g, fa})

	job := buildJob(t, ns, "master")
	pod := job.Spec.Template.Spec
	c := pod.Containers[0]
	wantPod, wantContainer, wantHostUsers := executor.BuildPodSecurity(executor.BuildPodUserNamespace)
	if c.Image != "registry.example/flarecast-builder:test" || !equality.Semantic.DeepEqual(pod.SecurityContext, wantPod) ||
		!equality.Semantic.DeepEqual(c.SecurityContext, wantContainer) || !equality.Semantic.DeepEqual(pod.HostUsers, wantHostUsers) {
		t.Fatalf("the build source's pod, as the API server keeps it: image %s, hostUsers %v, pod %+v, container %+v", c.Image, pod.HostUsers, pod.SecurityContext, c.SecurityContext)
	}

	var req build.Request // read now: the Secret goes once the result is recorded
	if err := json.Unmarshal(get(t, ns, job.Name, &corev1.Secret{}).Data["request.json"], &req); err != nil {
		t.Fatal(err)
	}
	job.Status = batchv1.JobStatus{Active: 1, StartTime: ptrTo(metav1.Now())}
	if err := k8s.Status().Update(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if code, msg := runPod(t, job, dir); code != 0 {
		t.Fatalf("the build pod exited %d: %s", code, msg)
	}
	setJobStatus(t, get(t, ns, job.Name, &batchv1.Job{}), true)
	fa = archiveState(t, ns, "master", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	if res := buildAsHostRoot(t, req); string(res.Digest) != fa.Status.Digest {
		t.Fatalf("built in a user-namespaced pod: %s; as the host's root: %s", fa.Status.Digest, res.Digest)
	}
	a := loadArchiveFrom(t, repo, fa.Status.Digest)
	if !strings.Contains(a.Config.Inputs[build.InputBuildPackages], `{"name":"flarecast-hello","version":"1.2-3","arch":"all"}`) {
		t.Fatalf("installed packages recorded: %s", a.Config.Inputs[build.InputBuildPackages])
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "volumes", "work")); len(left) != 0 {
		t.Fatalf("the pod's work directory holds %v: a build root was left", left)
	}
}

func loadArchiveFrom(t *testing.T, repo, ref string) *archive.Archive {
	t.Helper()
	s, err := repository.Open(context.Background(), repo, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := archive.Load(context.Background(), s, ref)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
