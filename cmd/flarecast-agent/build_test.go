package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
	buildDir  string
)

// agentBinary builds the agent as `make agent` does (static, stripped), once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "flarecast-agent-build-")
		if buildErr != nil {
			return
		}
		builtPath = filepath.Join(buildDir, "flarecast-agent")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", builtPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestTheAgentBinaryHoldsNoKubernetesOCIOrCEL: the agent rides in every initramfs and is
// fetched at every boot; what it imports beyond the standard library is held to a short list
// (no controller-runtime, client-go, CEL, API types or OCI libraries can come in unnoticed).
func TestTheAgentBinaryHoldsNoKubernetesOCIOrCEL(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{
		"github.com/flarecast/flarecast/cmd/flarecast-agent", "github.com/flarecast/flarecast/internal/agent",
		"github.com/flarecast/flarecast/internal/agentapi", "github.com/flarecast/flarecast/internal/installplan",
		"github.com/flarecast/flarecast/internal/disklayout", "github.com/flarecast/flarecast/internal/tarball",
		"github.com/flarecast/flarecast/internal/bytesize", "github.com/flarecast/flarecast/internal/earlyboot",
		"github.com/klauspost/compress", "github.com/diskfs/go-diskfs/", "github.com/google/uuid", "golang.org/x/sys/",
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		ok := false
		for _, a := range allowed {
			if d == a || strings.HasPrefix(d, strings.TrimSuffix(a, "/")+"/") {
				ok = true
			}
		}
		if !ok {
			t.Errorf("the agent imports %s, which is not on its list", d)
		}
	}
	t.Logf("non-standard packages: %v", deps)
}

func TestTheAgentBinaryIsStaticAndSmall(t *testing.T) {
	bin := agentBinary(t)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 20 << 20
	t.Logf("flarecast-agent: %d bytes (%.1f MiB)", st.Size(), float64(st.Size())/(1<<20))
	if st.Size() > limit {
		t.Errorf("the agent is %d bytes, more than the %d it may weigh", st.Size(), limit)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the agent has an ELF interpreter: it is not static (CGO_ENABLED=0)")
		}
	}
}

func TestKernelArgsReadTheWordsOfTheInstallServersBootScript(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cmdline")
	for line, want := range map[string]bootArgs{
		// What httpboot's script puts on the command line.
		"initrd=initramfs.img console=ttyS0 flarecast.namespace=sim flarecast.cluster=c1 flarecast.node=n1 flarecast.token=abc=def flarecast.server=http://198.18.0.1:8080\n": {
			server: "http://198.18.0.1:8080", node: "sim/c1/n1", token: "abc=def"},
		// Written by hand.
		"quiet flarecast.url=http://198.18.0.1:8080 flarecast.node=sim/c1/n2 flarecast.token=t": {server: "http://198.18.0.1:8080", node: "sim/c1/n2", token: "t"},
	} {
		os.WriteFile(p, []byte(line), 0o644)
		got, err := kernelArgs(p)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", line, got, err, want)
		}
	}
	os.WriteFile(p, []byte("quiet flarecast.server=http://x\n"), 0o644)
	if _, err := kernelArgs(p); err == nil || !strings.Contains(err.Error(), "lacks flarecast.server=, flarecast.node= or flarecast.token=") {
		t.Fatalf("a command line without a token: %v", err)
	}
}
