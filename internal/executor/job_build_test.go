package executor

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/flarecast/flarecast/internal/executor/build"
)

// dockerStage returns the lines of the Dockerfile's stage named name, continuation lines
// joined.
func dockerStage(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	in, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cont += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		l, cont = cont+l, ""
		if f := strings.Fields(l); strings.EqualFold(f[0], "FROM") {
			in = len(f) == 4 && strings.EqualFold(f[2], "AS") && f[3] == name
			continue
		}
		if in {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("the Dockerfile has no stage %s", name)
	}
	return lines
}

// debianPackageOf is the package that holds the program name on this (Debian) machine.
func debianPackageOf(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed here: run hack/debian-deps.sh", name)
	}
	real, _ := filepath.EvalSymlinks(p)
	// A merged /usr: dpkg knows /bin/mount, not /usr/bin/mount.
	for _, c := range []string{p, real, strings.TrimPrefix(p, "/usr"), strings.TrimPrefix(real, "/usr")} {
		out, err := exec.Command("dpkg-query", "-S", c).Output()
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(out), "\n") {
			if pkg, path, ok := strings.Cut(l, ": "); ok && !strings.HasPrefix(pkg, "diversion by") && path == c {
				return pkg
			}
		}
	}
	t.Fatalf("dpkg knows no package holding %s", p)
	return ""
}

// The image a build source's Job runs (the Dockerfile's builder stage) has the binary where
// the Job's command looks for it, and installs the package of every program the build runs on
// its host (build.HostTools, by the package that holds it on this Debian machine), and apt
// and dpkg, which mmdebstrap runs. There is no Docker engine here: this is the check short of
// building the image.
func TestTheBuilderImageHasTheJobsCommandAndTheBuildsTools(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("needs a Debian machine (dpkg-query)")
	}
	e, err := NewJob(JobOptions{Image: "flarecast:v1", BuildImage: "flarecast-builder:v1"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.JobFor(Spec{Namespace: "ns", Name: "master-build-0123456789", BuildRoot: true}).Spec.Template.Spec.Containers[0]
	if c.Image != "flarecast-builder:v1" {
		t.Fatalf("a build source's Job runs %s, not the build image", c.Image)
	}
	stage := dockerStage(t, "builder")
	var installed []string
	copied := false
	for _, l := range stage {
		f := strings.Fields(l)
		if f[0] == "COPY" && slices.Contains(f, "--from=build") && f[len(f)-1] == c.Command[0] {
			copied = true
		}
		for i := range f {
			if f[i] == "install" && i > 0 && f[i-1] == "apt-get" {
				for _, w := range f[i+1:] {
					if w == "&&" {
						break
					}
					if !strings.HasPrefix(w, "-") {
						installed = append(installed, w)
					}
				}
			}
		}
	}
	if !copied {
		t.Errorf("the builder stage copies no binary to %s, the Job's command (%v)", c.Command[0], stage)
	}
	want := []string{"apt", "dpkg"}
	for _, tool := range build.HostTools {
		want = append(want, debianPackageOf(t, tool))
	}
	for _, p := range want {
		if !slices.Contains(installed, p) {
			t.Errorf("the builder stage installs %v, without %s", installed, p)
		}
	}
}

// A build source's pod gets exactly what its build root needs, per setting; every other
// build keeps the restricted one.
func TestABuildSourcesPodGetsWhatItsBuildRootNeeds(t *testing.T) {
	for _, mode := range []BuildPod{BuildPodUserNamespace, BuildPodPrivileged} {
		e, err := NewJob(JobOptions{Image: "i", BuildPod: mode})
		if err != nil {
			t.Fatal(err)
		}
		pod := e.JobFor(Spec{Namespace: "ns", Name: "m", BuildRoot: true}).Spec.Template.Spec
		c := pod.Containers[0].SecurityContext
		if *pod.SecurityContext.RunAsUser != 0 || *pod.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod %+v does not run as root", mode, pod.SecurityContext)
		}
		switch mode {
		case BuildPodUserNamespace:
			if pod.HostUsers == nil || *pod.HostUsers || c.Privileged != nil || c.ProcMount == nil || *c.ProcMount != corev1.UnmaskedProcMount ||
				!slices.Equal(c.Capabilities.Drop, []corev1.Capability{"ALL"}) || slices.Contains(c.Capabilities.Add, "MKNOD") || !slices.Contains(c.Capabilities.Add, "SYS_ADMIN") {
				t.Errorf("userns: hostUsers %v, container %+v", pod.HostUsers, c)
			}
		case BuildPodPrivileged:
			if pod.HostUsers != nil || c.Privileged == nil || !*c.Privileged {
				t.Errorf("privileged: hostUsers %v, container %+v", pod.HostUsers, c)
			}
		}
		plain := e.JobFor(Spec{Namespace: "ns", Name: "r"}).Spec.Template.Spec
		if pc := plain.Containers[0].SecurityContext; !*plain.SecurityContext.RunAsNonRoot || pc.Capabilities.Add != nil || plain.HostUsers != nil || *pc.AllowPrivilegeEscalation {
			t.Errorf("%s: a rootfs build's pod is not the restricted one: %+v %+v", mode, plain.SecurityContext, pc)
		}
	}
	if _, err := NewJob(JobOptions{Image: "i", BuildPod: "root"}); err == nil || !strings.Contains(err.Error(), "want userns or privileged") {
		t.Fatalf("NewJob with build pod root: %v", err)
	}
}

// docsPodSecurity is the pod fragment docs/security.md shows for --job-build-pod mode: the
// YAML block whose first line is "# --job-build-pod MODE".
func docsPodSecurity(t *testing.T, mode BuildPod) corev1.PodSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	marker := "```yaml\n# --job-build-pod " + string(mode) + "\n"
	i := strings.Index(string(b), marker)
	if i < 0 {
		t.Fatalf("docs/security.md has no block for --job-build-pod %s", mode)
	}
	block := string(b)[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	var spec corev1.PodSpec
	if err := yaml.UnmarshalStrict([]byte(block), &spec); err != nil {
		t.Fatalf("docs/security.md, --job-build-pod %s: %v", mode, err)
	}
	return spec
}

// What docs/security.md says a build source's pod gets is exactly what the executor gives it.
func TestBuildPodSecurityIsWhatTheDocsSay(t *testing.T) {
	for _, mode := range []BuildPod{BuildPodUserNamespace, BuildPodPrivileged} {
		e, err := NewJob(JobOptions{Image: "i", BuildPod: mode})
		if err != nil {
			t.Fatal(err)
		}
		got := e.JobFor(Spec{Namespace: "ns", Name: "m", BuildRoot: true}).Spec.Template.Spec
		want := docsPodSecurity(t, mode)
		if !equality.Semantic.DeepEqual(got.HostUsers, want.HostUsers) || !equality.Semantic.DeepEqual(got.SecurityContext, want.SecurityContext) ||
			len(want.Containers) != 1 || got.Containers[0].Name != want.Containers[0].Name ||
			!equality.Semantic.DeepEqual(got.Containers[0].SecurityContext, want.Containers[0].SecurityContext) {
			g, _ := yaml.Marshal(map[string]any{"hostUsers": got.HostUsers, "securityContext": got.SecurityContext,
				"containers": []any{map[string]any{"name": got.Containers[0].Name, "securityContext": got.Containers[0].SecurityContext}}})
			t.Errorf("--job-build-pod %s: the executor gives\n%s", mode, g)
		}
	}
}
