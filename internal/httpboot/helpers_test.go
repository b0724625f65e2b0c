package httpboot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/flarecast/flarecast/internal/repository"
	"github.com/flarecast/flarecast/internal/testsupport/logbuf"
)

// randomBlob pushes size random bytes into store and returns them with their descriptor.
func randomBlob(t testing.TB, store repository.Store, size int) ([]byte, ocispec.Descriptor) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(size)}
	if err := store.Push(context.Background(), desc, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return b, desc
}

// startHandler serves o until the test ends; its log holds V(1) lines too (each boot file and
// blob served), which the tests count.
func startHandler(t testing.TB, o Options) (*httptest.Server, *logbuf.Buffer) {
	t.Helper()
	logs := &logbuf.Buffer{Verbosity: 1}
	o.Log = logs.Logger()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return srv, logs
}

// curl runs curl and returns its stdout; -w output comes last on stdout.
func curl(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS"}, args...)...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("curl %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), err
}

func sha256Hex(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func logsDiscard() logr.Logger { return logr.Discard() }

func ociDesc(d digest.Digest, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: size}
}
