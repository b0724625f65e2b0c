package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup registers the field indexes and every reconciler with a manager.
func Setup(ctx context.Context, mgr ctrl.Manager) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	rec := mgr.GetEventRecorder("flarecast-manager")
	c := mgr.GetClient()
	for name, r := range map[string]interface{ SetupWithManager(ctrl.Manager) error }{
		"Cluster":    &ClusterReconciler{Client: c, Recorder: rec},
		"NodesGroup": &NodesGroupReconciler{Client: c, Recorder: rec},
		"Machine":    &MachineReconciler{Client: c, Recorder: rec},
		"Network":    &NetworkReconciler{Client: c, Recorder: rec},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up %s reconciler: %w", name, err)
		}
	}
	return nil
}
