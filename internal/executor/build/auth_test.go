package build

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flarecast/flarecast/internal/testsupport/peers"
)

// A registry that asks for credentials gets them from the build request's docker config (the
// FlashArchive's pull Secret) and from nowhere else: with them the image builds; without
// them, or with a wrong password, the build fails and says the registry refused.
func TestAnImageFromARegistryThatAsksForCredentials(t *testing.T) {
	p, _ := rootfsTarGz(t)
	layout := imageLayout(t, p, "amd64")
	reg := peers.StartRegistry(t, true).Addr
	crane := peers.Bin(t, "crane")
	// crane pushes with the same credentials, from a docker config of its own.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.json"), peers.DockerConfig(reg, peers.User, peers.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	push := exec.Command(crane, "push", layout, reg+"/node:v1")
	push.Env = append(os.Environ(), "DOCKER_CONFIG="+home)
	if out, err := push.CombinedOutput(); err != nil {
		t.Fatalf("crane push: %v\n%s", err, out)
	}
	build := func(config []byte) error {
		req := generic(t.TempDir(), "", "")
		req.Inputs.Rootfs, req.Inputs.Image = nil, &Image{Ref: reg + "/node:v1"}
		req.DockerConfig = config
		_, err := Run(context.Background(), req, opts(t))
		return err
	}
	if err := build(peers.DockerConfig(reg, peers.User, peers.Password)); err != nil {
		t.Fatalf("with the pull Secret's credentials: %v", err)
	}
	for name, c := range map[string]struct {
		config []byte
		want   string
	}{
		"no credentials":   {nil, "the registry asks for credentials: name a kubernetes.io/dockerconfigjson Secret with credentials for " + reg + " in spec.source.image.pullSecretRef"},
		"a wrong password": {peers.DockerConfig(reg, peers.User, "not-the-password"), "401"},
		"another host's":   {peers.DockerConfig("registry.example:5000", peers.User, peers.Password), "the pull Secret (spec.source.image.pullSecretRef) has none for " + reg},
	} {
		err := build(c.config)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), peers.Password) {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	// The manager's own docker config (here: crane's, in DOCKER_CONFIG) is never used.
	t.Setenv("DOCKER_CONFIG", home)
	if err := build(nil); err == nil {
		t.Error("a build without a pull Secret used the manager's own credentials")
	}
}
