package installserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/installplan"
)

// setRollout writes the Cluster's rollout step as the manager's Cluster reconciler does.
func setRollout(t *testing.T, ns string, r map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": fcv1.GroupVersion.String(), "kind": "Cluster",
		"metadata": map[string]any{"namespace": ns, "name": "edge"},
		"status":   map[string]any{"rollout": r},
	}}
	if err := k8s.Status().Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("flarecast-manager"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

// A node that runs another archive than its group's deployable (its deployable changed) and
// boots from the network is told to go back to its disk until the Cluster's rollout names it,
// and why; once named, it installs. A node never installed installs at once.
func TestANodeReinstallsOnlyWhenTheRolloutTellsIt(t *testing.T) {
	needAPI(t)
	ns := newNamespace(t)
	applySamples(t, ns)
	d := makeDeployable(t, ns, "m1", "m2")
	d.publish(t, ns)
	_, hs := startInProcess(t, ns, d, true)
	old := "sha256:" + strings.Repeat("0", 64)
	if code, body := call(t, "POST", nodeURL(hs.URL, ns, "m1", "events"), token(ns, "m1"), `{"phase":"Running","installedDigest":"`+old+`"}`); code != 204 {
		t.Fatalf("event: %d %s", code, body)
	}
	plan := func(node string) installplan.PlanResponse {
		t.Helper()
		code, body := call(t, "GET", nodeURL(hs.URL, ns, node, "plan"), token(ns, node), "")
		var r installplan.PlanResponse
		if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
			t.Fatalf("plan of %s: %d %s", node, code, body)
		}
		return r
	}
	if r := plan("m1"); r.Action != installplan.ActionBootLocal || !strings.Contains(r.Message, "Cluster edge's rollout has not told it to reinstall yet") {
		t.Fatalf("m1 before the rollout: %s %q", r.Action, r.Message)
	}
	if r := plan("m2"); r.Action != installplan.ActionInstall {
		t.Fatalf("m2, never installed: %s", r.Action)
	}
	setRollout(t, ns, map[string]any{"held": []any{map[string]any{"node": "masters/m1", "reason": "MasterEligibleDown", "message": "waits: master-eligible node masters/m2 is down or reinstalling"}}})
	eventually(t, 30*time.Second, "m1 says why it waits", func() bool {
		r := plan("m1")
		return r.Action == installplan.ActionBootLocal && strings.Contains(r.Message, "(MasterEligibleDown): waits: master-eligible node masters/m2 is down")
	})
	setRollout(t, ns, map[string]any{"reinstall": []any{"masters/m1"}})
	eventually(t, 30*time.Second, "m1 is told to install", func() bool { return plan("m1").Action == installplan.ActionInstall })
}
