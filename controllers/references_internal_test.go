package controllers

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// TestUsedByIsTheSameWhateverOrderTheCacheLists: the cache lists referrers in no particular
// order; the status (usedBy, the InUse message) must not change with it, or every pass writes
// the object again.
func TestUsedByIsTheSameWhateverOrderTheCacheLists(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := fcv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	m := &fcv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "site"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(m).Build()
	refs := referrers{Kind: "Cluster", List: func(context.Context, client.Reader, string, string) ([]string, string, error) {
		return []string{"edge-b", "edge-a", "edge-c"}, "spec.machineRefs", nil
	}}
	u, err := reconcileUsage(context.Background(), c, m, refs)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(u.UsedBy, ","); got != "edge-a,edge-b,edge-c" {
		t.Fatalf("usedBy %s, want sorted", got)
	}
	if !strings.Contains(u.InUse.Message, "Cluster edge-a, edge-b, edge-c") {
		t.Fatalf("InUse message %q, want the Clusters sorted", u.InUse.Message)
	}
}
