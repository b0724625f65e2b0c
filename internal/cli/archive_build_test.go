package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
)

func TestArchiveBuildWritesTheResultItPrints(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "etc/hostname", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
	tw.Write([]byte("node\n"))
	tw.Close()
	rootfs := filepath.Join(dir, "rootfs.tar")
	os.WriteFile(rootfs, b.Bytes(), 0o644)
	req := build.Request{Archive: "ns/base", Repository: filepath.Join(dir, "repo"), Tag: "ns.base", Inputs: build.Inputs{
		Type: archive.Generic, Arch: "amd64", Rootfs: &build.Rootfs{URL: "file://" + rootfs, Digest: digest.FromBytes(b.Bytes())}},
		Limits: build.Limits{AllowFileSources: []string{dir}}}
	reqFile, resFile := filepath.Join(dir, "request.json"), filepath.Join(dir, "result.json")
	data, _ := json.Marshal(req)
	os.WriteFile(reqFile, data, 0o644)

	var out bytes.Buffer
	cmd := NewRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"archive", "build", "--request", reqFile, "--result", resFile})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var printed, written build.Result
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil {
		t.Fatalf("printed %q: %v", out.String(), err)
	}
	saved, err := os.ReadFile(resFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(saved, &written); err != nil || written.Digest != printed.Digest || !strings.HasPrefix(string(printed.Digest), "sha256:") ||
		printed.InputsDigest != req.Inputs.Digest(nil) {
		t.Fatalf("printed %+v, wrote %+v (%v)", printed, written, err)
	}

	cmd = NewRootCommand()
	cmd.SetArgs([]string{"archive", "build"})
	if err := cmd.Execute(); ExitCode(err) != 2 {
		t.Fatalf("no --request: %v (exit %d), want a usage error", err, ExitCode(err))
	}
}
