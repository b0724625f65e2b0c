package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// hostileServer serves what a silent, slow or endless server sends, until the test ends.
func hostileServer(t *testing.T) string {
	t.Helper()
	stop := make(chan struct{})
	wait := func(r *http.Request, d time.Duration) bool {
		select {
		case <-r.Context().Done():
			return false
		case <-stop:
			return false
		case <-time.After(d):
			return true
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/silent.tar", func(w http.ResponseWriter, r *http.Request) { wait(r, time.Hour) })
	mux.HandleFunc("/slow.tar", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(1<<20))
		for wait(r, 100*time.Millisecond) {
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/endless.tar", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { close(stop); srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}

// A silent, a slow and an endless source each end Failed with the bound that stopped them
// and how far they got; the slow one shows its progress while it runs; and none of them
// holds the build of another archive.
func TestSlowSilentAndEndlessSourcesAreBoundedAndHoldNoOtherBuild(t *testing.T) {
	ns := newNamespace(t)
	srv := hostileServer(t)
	bad := "sha256:" + strings.Repeat("0", 64)
	silent := genericArchive(ns, "silent", srv+"/silent.tar", bad)
	silent.Spec.Limits = &fcv1.BuildLimits{FirstByteTimeout: "20s"}
	slow := genericArchive(ns, "slow", srv+"/slow.tar", bad)
	// Long enough for the progress to reach the status on a loaded machine (a build process
	// to start, its first report, the 2 s copy): 10 s was seen to run out first under load.
	slow.Spec.Limits = &fcv1.BuildLimits{DownloadTimeout: "25s"}
	endless := genericArchive(ns, "endless", srv+"/endless.tar", bad)
	endless.Spec.Limits = &fcv1.BuildLimits{MaxSize: "1Mi"}
	createAll(t, ns, []client.Object{silent, slow})

	eventually(t, "the slow build's progress in its status", func() error {
		fa := get(t, ns, "slow", &fcv1.FlashArchive{})
		if p := fa.Status.Progress; fa.Status.Phase != fcv1.ArchiveBuilding || p == nil || p.Stage != "download" || p.Bytes == 0 || p.Total != 1<<20 {
			return fmt.Errorf("phase %s, progress %+v", fa.Status.Phase, fa.Status.Progress)
		}
		return nil
	})
	// Both hostile builds still run: another archive builds beside them.
	url, dgst := tinyRootfs(t)
	createAll(t, ns, []client.Object{genericArchive(ns, "other", url, dgst), endless})
	archiveState(t, ns, "other", fcv1.ArchiveReady, metav1.ConditionTrue, "Built", "")
	for _, name := range []string{"silent", "slow"} {
		if fa := get(t, ns, name, &fcv1.FlashArchive{}); fa.Status.Phase != fcv1.ArchiveBuilding {
			t.Fatalf("%s is %s, want still Building", name, fa.Status.Phase)
		}
	}

	archiveState(t, ns, "endless", fcv1.ArchiveFailed, metav1.ConditionFalse, "SourceTooLarge", "the body goes past the 1.0 MiB (1048576 bytes) maxSize; stopped there")
	archiveState(t, ns, "silent", fcv1.ArchiveFailed, metav1.ConditionFalse, "FirstByteTimeout", "the server sent no response headers for 20s, after 0 B of the body")
	fa := archiveState(t, ns, "slow", fcv1.ArchiveFailed, metav1.ConditionFalse, "DownloadTimeout", "the download took longer than its downloadTimeout for 25s, after ")
	if fa.Status.Progress != nil {
		t.Fatalf("a failed build keeps its progress %+v", fa.Status.Progress)
	}
}

// spec.limits is checked by the API server: a duration or a size that is not one is refused.
func TestLimitsOfAnotherFormAreRefused(t *testing.T) {
	ns := newNamespace(t)
	for _, l := range []fcv1.BuildLimits{{IdleTimeout: "soon"}, {MaxSize: "-1Gi"}, {BuildTimeout: "10"}} {
		fa := genericArchive(ns, "a", "http://198.18.0.1/x.tar", "sha256:"+strings.Repeat("0", 64))
		fa.Spec.Limits = &l
		if err := k8s.Create(context.Background(), fa); err == nil || !strings.Contains(err.Error(), "spec.limits.") {
			t.Fatalf("limits %+v: %v", l, err)
		}
	}
}
