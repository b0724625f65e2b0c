package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the flarecast command in-process, as main would, and returns stdout, stderr and
// the exit code.
func run(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := NewRootCommand()
	var out, errb bytes.Buffer
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetArgs(args)
	code := Execute(context.Background(), cmd, &out, &errb)
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := run(t, nil, args...)
	if code != 0 {
		t.Fatalf("flarecast %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// site prepares a root file system, configuration inputs and an empty repository path.
type site struct {
	dir, repo, rootfs string
}

func newSite(t *testing.T) site {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	s := site{dir: dir, repo: filepath.Join(dir, "repo"), rootfs: filepath.Join(dir, "rootfs")}
	write := func(p, content string, mode os.FileMode) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(s.rootfs, "etc/os-release"), "ID=cli-test\n", 0o644)
	data := make([]byte, 256<<10)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	write(filepath.Join(s.rootfs, "usr/lib/data"), string(data), 0o644)
	write(filepath.Join(dir, "app.conf"), "key=value\n", 0o640)
	write(filepath.Join(dir, "setup.sh"), "#!/bin/sh\necho setup\n", 0o755)
	write(filepath.Join(dir, "hosts"), "10.0.0.1 n1\n", 0o644)
	write(filepath.Join(dir, "nodes.json"), `[{"name":"n1","id":1,"group":"web","addresses":["10.0.0.1"]}]`, 0o644)
	return s
}

func (s site) writeLoad(t *testing.T, archiveDigest string) string {
	p := filepath.Join(s.dir, "swl.json")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"cluster":"prod","domain":7,"groups":[{"name":"web","archive":%q,"nodes":["n1"]}]}`, archiveDigest)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// build makes base, web-conf and web-prod through the CLI and returns their digests.
func (s site) build(t *testing.T) (string, string, string) {
	t.Helper()
	base := lastLine(mustRun(t, "archive", "--repo", s.repo, "create", "base", "--from", s.rootfs, "--arch", "arm64"))
	conf := lastLine(mustRun(t, "archive", "--repo", s.repo, "derive", "web-conf", "--from", "base", "--type", "configured",
		"--file", filepath.Join(s.dir, "app.conf")+":/etc/app.conf", "--script", filepath.Join(s.dir, "setup.sh")+":BeforeServices:10", "--double-reboot"))
	dep := lastLine(mustRun(t, "archive", "--repo", s.repo, "derive", "web-prod", "--from", "web-conf", "--type", "Deployable", "--group", "web",
		"--software-load", s.writeLoad(t, conf), "--nodes", filepath.Join(s.dir, "nodes.json"), "--cluster-file", filepath.Join(s.dir, "hosts")+":/etc/hosts"))
	return base, conf, dep
}

func TestArchiveCreatePrintsTheDigestOnItsLastLine(t *testing.T) {
	s := newSite(t)
	base, conf, dep := s.build(t)
	for name, want := range map[string]string{"base": base, "web-conf": conf, "web-prod": dep} {
		if !strings.HasPrefix(want, "sha256:") || len(want) != 71 {
			t.Fatalf("%s: last line %q is not a digest", name, want)
		}
		var info struct {
			Digest       string `json:"digest"`
			Type         string `json:"type"`
			Architecture string `json:"architecture"`
			Created      string `json:"created"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, "archive", "--repo", s.repo, "info", name, "-o", "json")), &info); err != nil {
			t.Fatal(err)
		}
		if info.Digest != want || info.Architecture != "arm64" || info.Created != "2023-11-14T22:13:20Z" {
			t.Fatalf("%s: info %+v, want digest %s, arm64, created from SOURCE_DATE_EPOCH", name, info, want)
		}
	}
	// The same tree and inputs in another repository give the same digests.
	other := newSite(t)
	other.rootfs = s.rootfs
	if b2, _, d2 := other.build(t); b2 != base || d2 != dep {
		t.Fatalf("rebuilding gave %s %s, first %s %s", b2, d2, base, dep)
	}
}

func TestArchiveInfoShowsSectionsAndLineage(t *testing.T) {
	s := newSite(t)
	base, conf, _ := s.build(t)
	out := mustRun(t, "archive", "--repo", s.repo, "info", "web-prod")
	for _, want := range []string{
		"Type:           Deployable",
		"Lineage:        " + base[:19] + " (base Generic) ← " + conf[:19] + " (web-conf Configured) ←",
		"Software load:  cluster prod, domain 7",
		"archive        application/vnd.flarecast.archive.layer.v1.tar+zstd",
		"configuration  application/vnd.flarecast.archive.configuration.v1.tar+zstd",
		"cluster        application/vnd.flarecast.archive.cluster.v1.tar+zstd",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	ls := mustRun(t, "archive", "--repo", s.repo, "ls")
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(ls), "\n")[1:] {
		f := strings.Fields(line)
		rows = append(rows, f[0]+" "+f[1])
	}
	if want := []string{"base Generic", "web-conf Configured", "web-prod Deployable"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("ls rows %v, want %v:\n%s", rows, want, ls)
	}
}

func TestArchiveExportImportExtractAcrossRepositories(t *testing.T) {
	s := newSite(t)
	_, _, dep := s.build(t)
	file := filepath.Join(s.dir, "prod.flar")
	mustRun(t, "archive", "--repo", s.repo, "export", "web-prod", "--software-load", "--file", file)
	repo2 := filepath.Join(s.dir, "repo2")
	out := mustRun(t, "archive", "--repo", repo2, "import", file)
	if !strings.Contains(out, "every section verified") || !strings.Contains(out, dep) {
		t.Fatalf("import said:\n%s", out)
	}
	mustRun(t, "archive", "--repo", repo2, "verify", "web-prod")
	root := filepath.Join(s.dir, "node")
	mustRun(t, "archive", "--repo", repo2, "extract", "web-prod", root, "--deployable", "--rootless")
	for p, want := range map[string]string{
		"etc/os-release": "ID=cli-test\n", "etc/app.conf": "key=value\n", "etc/hosts": "10.0.0.1 n1\n",
		"var/lib/flarecast/configuration/scripts/setup.sh": "#!/bin/sh\necho setup\n",
	} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/app.conf")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("app.conf mode %v %v, want the source's 0640", fi.Mode(), err)
	}

	// Through a pipe: export to stdout, import from stdin.
	stream, _, code := run(t, nil, "archive", "--repo", s.repo, "export", "base", "--file", "-")
	if code != 0 {
		t.Fatalf("export to stdout: exit %d", code)
	}
	repo3 := filepath.Join(s.dir, "repo3")
	if _, errs, code := run(t, []byte(stream), "archive", "--repo", repo3, "import", "-"); code != 0 {
		t.Fatalf("import from stdin: exit %d %s", code, errs)
	}
	mustRun(t, "archive", "--repo", repo3, "verify", "--all")
}

func TestArchivePushPullBetweenDirectories(t *testing.T) {
	s := newSite(t)
	_, _, dep := s.build(t)
	far := filepath.Join(s.dir, "far")
	if out := mustRun(t, "archive", "--repo", s.repo, "push", "web-prod", far); lastLine(out) != dep {
		t.Fatalf("push printed %q, want %s", out, dep)
	}
	back := filepath.Join(s.dir, "back")
	mustRun(t, "archive", "--repo", back, "pull", far, "web-prod", "--as", "prod-copy")
	var v []struct {
		Archive string `json:"archive"`
		OK      bool   `json:"ok"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "archive", "--repo", back, "verify", "prod-copy", "-o", "json")), &v); err != nil || len(v) != 1 || !v[0].OK {
		t.Fatalf("verify after pull: %+v %v", v, err)
	}
}

func TestArchiveCommandsExitCodesAndMessages(t *testing.T) {
	s := newSite(t)
	s.build(t)
	damaged := filepath.Join(s.dir, "damaged.flar")
	mustRun(t, "archive", "--repo", s.repo, "export", "web-prod", "--file", damaged)
	b, _ := os.ReadFile(damaged)
	if err := os.WriteFile(damaged, b[:len(b)-2000], 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no name", []string{"create", "--from", s.rootfs}, 2, "accepts 1 arg"},
		{"both sources", []string{"create", "x", "--from", s.rootfs, "--from-tar", "-"}, 2, "exactly one of --from"},
		{"unknown type", []string{"derive", "x", "--from", "base", "--type", "golden"}, 2, "unknown archive type"},
		{"bad script spec", []string{"derive", "x", "--from", "base", "--type", "configured", "--script", "a.sh:Later:1"}, 2, "unknown stage"},
		{"bad output", []string{"ls", "-o", "yaml"}, 2, "want text or json"},
		{"deployable from deployable", []string{"derive", "x", "--from", "web-prod", "--type", "deployable", "--group", "web", "--software-load", s.writeLoad(t, "sha256:"+strings.Repeat("0", 64))}, 1, "a deployable cannot be derived from a deployable"},
		{"missing archive", []string{"info", "nope"}, 1, "not found"},
		{"generic is not deployable", []string{"extract", "base", filepath.Join(s.dir, "x"), "--deployable"}, 1, "generic archives are never deployable"},
		{"truncated import", []string{"--repo", filepath.Join(s.dir, "fresh"), "import", damaged}, 1, "section.5 archive"},
		{"verify both names and all", []string{"verify", "base", "--all"}, 2, "not both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, nil, append([]string{"archive", "--repo", s.repo}, tc.args...)...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, want %d; stderr %q should say %q (stdout %q)", code, tc.code, errs, tc.want, out)
			}
		})
	}
	if out := mustRun(t, "archive", "--repo", filepath.Join(s.dir, "fresh"), "ls", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("a refused import left names: %s", out)
	}
}

func TestArchiveVerifyExitsOneAndNamesTheDamagedSection(t *testing.T) {
	s := newSite(t)
	s.build(t)
	var info struct {
		Sections []struct{ Name, Digest string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, "archive", "--repo", s.repo, "info", "web-prod", "-o", "json")), &info); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(s.repo, "blobs", "sha256", strings.TrimPrefix(info.Sections[1].Digest, "sha256:"))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.Chmod(blob, 0o644)
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, nil, "archive", "--repo", s.repo, "verify", "--all")
	if code != 1 || !strings.Contains(out, "web-prod: FAULT") || !strings.Contains(out, "section configuration") || !strings.Contains(out, "base: ok") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

func TestArchiveGCRemovesTheSectionsOfAReplacedConfiguration(t *testing.T) {
	s := newSite(t)
	s.build(t)
	// Derive web-conf twice more: the name moves each time. The first web-conf's manifest and
	// config are then reached by nothing (web-prod names its lineage, it does not hold it), its
	// configuration section still is, by web-prod; the second web-conf is unreachable whole.
	mustRun(t, "archive", "--repo", s.repo, "derive", "web-conf", "--from", "base", "--type", "configured",
		"--file", filepath.Join(s.dir, "hosts")+":/etc/other")
	mustRun(t, "archive", "--repo", s.repo, "derive", "web-conf", "--from", "base", "--type", "configured",
		"--file", filepath.Join(s.dir, "app.conf")+":/etc/third")
	var dry struct {
		Removed []struct{ Digest string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, "archive", "--repo", s.repo, "gc", "--dry-run", "--grace", "0", "-o", "json")), &dry); err != nil {
		t.Fatal(err)
	}
	if len(dry.Removed) != 5 {
		t.Fatalf("dry run would remove %d blobs, want 2 of the first web-conf and 3 of the second: %+v", len(dry.Removed), dry.Removed)
	}
	if out := mustRun(t, "archive", "--repo", s.repo, "gc"); !strings.Contains(out, "removed 0 blobs") {
		t.Fatalf("gc with the default grace removed fresh blobs: %s", out)
	}
	if out := mustRun(t, "archive", "--repo", s.repo, "gc", "--grace", "0"); !strings.Contains(out, "removed 5 blobs") {
		t.Fatalf("gc: %s", out)
	}
	mustRun(t, "archive", "--repo", s.repo, "verify", "--all")
}

func TestArchiveExportThatFailsLeavesNoFile(t *testing.T) {
	s := newSite(t)
	s.build(t)
	file := filepath.Join(s.dir, "out.flar")
	if _, errs, code := run(t, nil, "archive", "--repo", s.repo, "export", "web-prod", "missing", "--file", file); code != 1 || !strings.Contains(errs, "missing") {
		t.Fatalf("export of a missing archive: exit %d %q", code, errs)
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "out.flar") {
			t.Fatalf("a failed export left %s", e.Name())
		}
	}
	mustRun(t, "archive", "--repo", s.repo, "export", "web-prod", "--file", file)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("export file: %v %v", fi, err)
	}
}
