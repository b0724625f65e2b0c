package controllers_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/archive"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// leaks reports where text holds the secret, in the clear or base64 (as JSON holds bytes).
func leaks(text string, secret []byte) bool {
	enc := strings.TrimRight(base64.StdEncoding.EncodeToString(secret), "=")
	return strings.Contains(text, string(secret)) || strings.Contains(text, enc)
}

// A Secret's bytes go into the archive (that is what the Secret is for) and nowhere else: not
// the FlashArchive (its inputs digest cannot be recomputed from a guess without the
// manager's key), not its events, not the manager's log, not the archive's config, and no
// file the build made stays on disk once it ended, whether it succeeded or failed.
func TestNoSecretByteLeavesTheBuild(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	random := make([]byte, 8)
	rand.Read(random)
	secret := []byte("s3cr3t-" + hex.EncodeToString(random))
	fromSecret := fcv1.ConfigSource{SecretKeyRef: &fcv1.KeyReference{Name: "creds", Key: "install"}}
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{
		&corev1.Secret{ObjectMeta: objMeta(ns, "creds"), Data: map[string][]byte{"install": secret}},
		genericArchive(ns, "base", url, dgst),
		configured(ns, "good", "base", &fcv1.Configuration{Scripts: []fcv1.Script{{Name: "creds.sh", Stage: fcv1.StageFirstBoot, Source: fromSecret}}}),
		// The API server admits this path; the build refuses it (flarecast's own directory): a
		// failed build whose request held the Secret.
		configured(ns, "bad", "base", &fcv1.Configuration{Files: []fcv1.ConfigFile{{Path: "/var/lib/flarecast/creds", Mode: 0o600, Source: fromSecret}}}),
	})
	base := archiveState(t, ns, "base", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	good := archiveState(t, ns, "good", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	archiveState(t, ns, "bad", fcv1.ArchiveFailed, metav1.ConditionFalse, "BuildFailed", "is reserved for flarecast")

	// The archive holds the script.
	if got := readFile(t, filepath.Join(extracted(t, good), archive.ConfigurationDir, "scripts/creds.sh")); got != string(secret) {
		t.Fatalf("creds.sh %q", got)
	}
	// Status: nothing of the Secret, and a guess cannot be checked against the inputs digest.
	for _, name := range []string{"good", "bad"} {
		fa := get(t, ns, name, &fcv1.FlashArchive{})
		b, _ := json.Marshal(fa)
		if leaks(string(b), secret) {
			t.Fatalf("FlashArchive %s holds the Secret: %s", name, b)
		}
	}
	guess := build.Inputs{Type: archive.Configured, Base: digest.Digest(base.Status.Digest), Configuration: &build.Configuration{
		Scripts: []build.Script{{Name: "creds.sh", Stage: archive.StageFirstBoot, Data: secret}}}}
	keyless := guess
	keyless.Configuration = &build.Configuration{Scripts: []build.Script{{Name: "creds.sh", Stage: archive.StageFirstBoot, Data: secret, FromSecret: true}}}
	if d := good.Status.InputsDigest; d == "" || d == string(guess.Digest(nil)) || d == string(keyless.Digest(nil)) {
		t.Fatalf("the inputs digest %s can be recomputed from a guess of the Secret", d)
	}
	// Events, old and new API.
	var events corev1.EventList
	var newEvents eventsv1.EventList
	if err := k8s.List(ctx, &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := k8s.List(ctx, &newEvents, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal([]any{events, newEvents}); leaks(string(b), secret) {
		t.Fatalf("events hold the Secret: %s", b)
	}
	// The manager's log.
	if leaks(managerLog.String(), secret) {
		t.Fatal("the manager's log holds the Secret")
	}
	// The archive's config.
	a, err := archive.Load(ctx, openRepo(t), good.Status.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(a.Config); leaks(string(b), secret) || a.Config.Inputs[build.InputInputsDigest] != good.Status.InputsDigest {
		t.Fatalf("the archive's config holds the Secret, or not the status's inputs digest: %s", b)
	}
	// Files: the executor's state directory (the failed build's log stays there) and the
	// temporary directory.
	filepath.WalkDir(buildsDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); leaks(string(b), secret) {
				t.Errorf("%s holds the Secret", p)
			}
		}
		return nil
	})
	for _, pattern := range []string{"flarecast-rootfs-*", "flarecast-pack-*"} {
		if left, _ := filepath.Glob(filepath.Join(os.TempDir(), pattern)); len(left) > 0 {
			t.Errorf("left in %s: %v", os.TempDir(), left)
		}
	}
}

// Deleting FlashArchives races the other writers of their finalizers (the in-use pass, a
// second event of the same deletion): a write that finds the object gone or changed is not
// an error, and the manager's log says none.
func TestDeletingArchivesLogsNoError(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	url, dgst := tinyRootfs(t)
	var objs []client.Object
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		objs = append(objs, genericArchive(ns, n, url, dgst))
	}
	createAll(t, ns, objs)
	for _, n := range names {
		archiveState(t, ns, n, fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	}
	for _, n := range names {
		if err := k8s.Delete(ctx, &fcv1.FlashArchive{ObjectMeta: objMeta(ns, n)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the archives gone", func() error {
		var list fcv1.FlashArchiveList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d left", len(list.Items))
		}
		return nil
	})
	// Give the events of the last writes time to come back.
	time.Sleep(2 * time.Second)
	for _, line := range strings.Split(managerLog.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(line, ns) {
			t.Errorf("logged as an error: %s", line)
		}
	}
}
