package controllers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/repository"
)

// Executor kinds.
const (
	ExecutorLocal = "local"
	ExecutorJob   = "job"
)

// ArchiveOptions say where archives are stored and what builds them.
type ArchiveOptions struct {
	// Repository is the store location: a directory or oci://host[:port]/repository.
	Repository string
	// Executor is ExecutorLocal (default) or ExecutorJob.
	Executor string
	// Local is the local executor's configuration; its OnDone is set by Setup.
	Local executor.LocalOptions
	// Job is the job executor's configuration; its Client, Reader and Progress are set by
	// Setup.
	Job executor.JobOptions
	// ProgressAddress, for the job executor, is where the manager listens for the progress
	// build pods report (to Job.ProgressURL); empty: builds in Jobs report none.
	ProgressAddress string
	// InputsKeySecret holds the key of the inputs digest (made on first start); default
	// default/flarecast-inputs-key.
	InputsKeySecret types.NamespacedName
	// Limits bound every build: allowed sources, timeouts, sizes (zero fields: the build's
	// defaults); a FlashArchive's spec.limits override the time and size ones.
	Limits build.Limits
	// InstallServers say how the install servers of Pod-mode sites run (image, kernel,
	// ports); their repository is this one.
	InstallServers InstallServerOptions
}

// Setup registers the field indexes and every reconciler with a manager.
func Setup(ctx context.Context, mgr ctrl.Manager, archives ArchiveOptions) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := setupArchiveIndexes(ctx, mgr); err != nil {
		return err
	}
	rec := mgr.GetEventRecorder("flarecast-manager")
	c := mgr.GetClient()
	// One Source for every reconciler: a cluster's model is resolved once per change,
	// whichever of them asks first.
	models := modelsource.New(c)
	for name, r := range map[string]interface{ SetupWithManager(ctrl.Manager) error }{
		"Cluster":    &ClusterReconciler{Client: c, Recorder: rec, Models: models},
		"NodesGroup": &NodesGroupReconciler{Client: c, Recorder: rec, Models: models},
		"Machine":    &MachineReconciler{Client: c, Recorder: rec, Models: models},
		"Network":    &NetworkReconciler{Client: c, Recorder: rec, Models: models},
		"Deployable": &DeployableReconciler{Client: c, Recorder: rec},
		"InstallServer": &InstallServerReconciler{Client: c, APIReader: mgr.GetAPIReader(), Recorder: rec,
			Options: installServerOptions(archives)},
	} {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up %s reconciler: %w", name, err)
		}
	}
	return setupArchives(ctx, mgr, archives, models)
}

// SetupArchives registers only the FlashArchive reconciler, with the indexes it lists
// through: for a manager that builds archives beside one that runs the model controllers.
func SetupArchives(ctx context.Context, mgr ctrl.Manager, archives ArchiveOptions) error {
	if err := SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := setupArchiveIndexes(ctx, mgr); err != nil {
		return err
	}
	return setupArchives(ctx, mgr, archives, modelsource.New(mgr.GetClient()))
}

func setupArchives(ctx context.Context, mgr ctrl.Manager, o ArchiveOptions, models *modelsource.Source) error {
	store, err := repository.Open(ctx, o.Repository, repository.Options{})
	if err != nil {
		return fmt.Errorf("archive repository: %w", err)
	}
	keyName := o.InputsKeySecret
	if keyName.Name == "" {
		keyName = types.NamespacedName{Namespace: "default", Name: DefaultInputsKeySecret}
	}
	key, err := inputsKey(ctx, mgr.GetClient(), mgr.GetAPIReader(), keyName)
	if err != nil {
		return err
	}
	r := &FlashArchiveReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("flarecast-manager"),
		Repository: o.Repository, Store: store, InputsKey: key, Limits: o.Limits, Models: models,
	}
	var done chan event.GenericEvent
	switch o.Executor {
	case ExecutorLocal, "":
		// A finished build wakes its FlashArchive through this channel. The send happens off
		// the build's goroutine, so a slow controller never holds a build slot.
		done = make(chan event.GenericEvent, 64)
		local := o.Local
		local.OnDone = func(namespace, owner string) {
			go func() {
				done <- event.GenericEvent{Object: &fcv1.FlashArchive{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: owner}}}
			}()
		}
		if r.Executor, err = executor.NewLocal(local); err != nil {
			return err
		}
	case ExecutorJob:
		job := o.Job
		job.Client, job.Reader = mgr.GetClient(), mgr.GetAPIReader()
		if o.ProgressAddress != "" && job.ProgressURL != "" {
			// Its own key, derived from the installation's: the tokens of builds started
			// before a restart stay good, and a token says nothing of the inputs key.
			m := hmac.New(sha256.New, key)
			m.Write([]byte("flarecast build progress key"))
			if job.Progress, err = executor.NewProgressReceiver(m.Sum(nil)); err != nil {
				return err
			}
			addr := o.ProgressAddress
			if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return job.Progress.Serve(ctx, addr) })); err != nil {
				return fmt.Errorf("build progress endpoint: %w", err)
			}
		}
		if r.Executor, err = executor.NewJob(job); err != nil {
			return err
		}
	default:
		return fmt.Errorf("executor %q: want %s or %s", o.Executor, ExecutorLocal, ExecutorJob)
	}
	if err := r.SetupWithManager(mgr, done, o.Executor == ExecutorJob); err != nil {
		return fmt.Errorf("set up FlashArchive reconciler: %w", err)
	}
	return nil
}

func installServerOptions(a ArchiveOptions) InstallServerOptions {
	o := a.InstallServers
	o.Repository = a.Repository
	if o.RepositoryClaim == "" {
		o.RepositoryClaim = a.Job.RepositoryClaim
	}
	if o.Image == "" {
		o.Image = a.Job.Image
	}
	return o
}
