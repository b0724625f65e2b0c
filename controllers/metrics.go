package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/flarecast/flarecast/internal/model"
)

// clusterFindings is what a person graphs and alerts on: how many rules a Cluster's model
// breaks, what it still lacks, and its warnings, per Cluster. It is set on every resolution
// and dropped with the Cluster, so an alert on `flarecast_cluster_findings{severity="problem"} > 0`
// fires exactly while a model is invalid.
var clusterFindings = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "flarecast_cluster_findings",
	Help: "Findings of the last resolution of a Cluster's model: severity is problem (Valid=False), missing (ModelComplete=False) or warning.",
}, []string{"namespace", "cluster", "severity"})

func init() {
	metrics.Registry.MustRegister(clusterFindings)
}

func recordFindings(namespace, cluster string, res *model.Result) {
	clusterFindings.WithLabelValues(namespace, cluster, "problem").Set(float64(len(res.Problems)))
	clusterFindings.WithLabelValues(namespace, cluster, "missing").Set(float64(len(res.Missing)))
	clusterFindings.WithLabelValues(namespace, cluster, "warning").Set(float64(len(res.Warnings)))
}

func forgetFindings(namespace, cluster string) {
	clusterFindings.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "cluster": cluster})
}
