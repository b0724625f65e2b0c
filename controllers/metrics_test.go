package controllers_test

import (
	"context"
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// findings reads flarecast_cluster_findings for one Cluster and severity from the registry
// the manager serves on /metrics; -1 when the series does not exist.
func findings(ns, cluster, severity string) float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return -2
	}
	for _, f := range families {
		if f.GetName() != "flarecast_cluster_findings" {
			continue
		}
		for _, m := range f.GetMetric() {
			if metricLabels(m)["namespace"] == ns && metricLabels(m)["cluster"] == cluster && metricLabels(m)["severity"] == severity {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func metricLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestClusterFindingsAreExportedAsMetrics: the gauge follows the model (zero problems for the
// sample site, some once it is broken) and goes away with the Cluster.
func TestClusterFindingsAreExportedAsMetrics(t *testing.T) {
	ns := newNamespace(t)
	createAll(t, ns, readManifests(t, sampleSite...))
	eventually(t, "edge valid", clusterCondition(ns, "edge", fcv1.ConditionValid, metav1.ConditionTrue, ""))
	eventually(t, "no problems exported", func() error {
		if p, m := findings(ns, "edge", "problem"), findings(ns, "edge", "missing"); p != 0 || m != 0 {
			return fmt.Errorf("problem=%v missing=%v", p, m)
		}
		return nil
	})
	update(t, &fcv1.NodesGroup{ObjectMeta: objMeta(ns, "diskless")}, func(o client.Object) {
		o.(*fcv1.NodesGroup).Spec.Nodes[0].Drawer = "shelf0/d9"
	})
	eventually(t, "the broken rule is exported", func() error {
		if p := findings(ns, "edge", "problem"); p < 1 {
			return fmt.Errorf("problem=%v", p)
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), &fcv1.Cluster{ObjectMeta: objMeta(ns, "edge")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the series goes with the Cluster", func() error {
		if p := findings(ns, "edge", "problem"); p != -1 {
			return fmt.Errorf("problem=%v", p)
		}
		return nil
	})
}
