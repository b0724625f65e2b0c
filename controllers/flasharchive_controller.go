package controllers

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"oras.land/oras-go/v2/errdef"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/executor"
	"github.com/flarecast/flarecast/internal/executor/build"
	"github.com/flarecast/flarecast/internal/modelsource"
	"github.com/flarecast/flarecast/internal/repository"
)

// archiveFinalizer untags a deleted FlashArchive's name in the repository; its blobs go at the
// next garbage collection (flarecast archive gc), once nothing else reaches them.
const archiveFinalizer = "flarecast.io/archive"

// FlashArchiveReconciler turns a FlashArchive's spec into a build request, hands it to an
// executor, and records what the executor reports. It never packs or derives anything itself.
type FlashArchiveReconciler struct {
	client.Client
	// APIReader reads ConfigMaps and Secrets, uncached.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Executor  executor.Executor
	// Repository is the location builds write to; Store is the manager's handle on it, to
	// read results back and untag deleted archives.
	Repository string
	Store      repository.Store
	// InputsKey keys the Secret content of the inputs digest (see build.Inputs.Digest): it
	// never leaves the manager, so a digest anyone may read cannot be tested against guesses.
	InputsKey []byte
	// Limits are the manager's bounds of every build (allowed sources included); an
	// archive's spec.limits override the time and size ones.
	Limits build.Limits
	// Models serves the models deployable archives are planned from.
	Models *modelsource.Source
}

// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=create;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// Reconcile plans the archive's build, drives it through the executor and patches status.
func (r *FlashArchiveReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var fa fcv1.FlashArchive
	if err := r.Get(ctx, req.NamespacedName, &fa); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	u, err := reconcileUsage(ctx, r.Client, &fa, archiveReferrers)
	if err != nil {
		return raced(err)
	}
	if !fa.DeletionTimestamp.IsZero() {
		if u.Released {
			return raced(r.release(ctx, &fa))
		}
		st := fa.Status
		st.Conditions = setConditions(r.Recorder, &fa, fa.Status.Conditions, u.InUse)
		return raced(r.apply(ctx, &fa, &st))
	}
	if controllerutil.AddFinalizer(&fa, archiveFinalizer) {
		if err := r.Update(ctx, &fa); err != nil {
			return raced(fmt.Errorf("add finalizer to FlashArchive %s: %w", req.NamespacedName, err))
		}
	}
	planner, ok := planners[fa.Spec.Type]
	if !ok {
		// The API server admits only the three types; an unknown one is a newer API.
		return ctrl.Result{}, nil
	}
	p, err := planner(ctx, r, &fa)
	if err != nil {
		return ctrl.Result{}, r.recordFailure(ctx, &fa, err)
	}
	lim, msg := r.limitsFor(&fa)
	if msg != "" {
		p = failed(ReasonInvalidSpec, "%s", msg)
	}
	st, done, err := r.progress(ctx, &fa, p, lim)
	if err != nil {
		return ctrl.Result{}, r.recordFailure(ctx, &fa, err)
	}
	st.Conditions = setConditions(r.Recorder, &fa, fa.Status.Conditions, st.Conditions[0], u.InUse)
	if err := r.apply(ctx, &fa, &st); err != nil {
		return ctrl.Result{}, err
	}
	if done != "" {
		// The result is in the status now: the executor's record of the job can go.
		if err := r.Executor.Forget(ctx, fa.Namespace, done); err != nil {
			logf.FromContext(ctx).Error(err, "forget finished build", "job", done)
		}
	}
	if st.Progress != nil {
		// Progress is time-based: the executor says when the build ends, not each byte.
		return ctrl.Result{RequeueAfter: progressInterval}, nil
	}
	return ctrl.Result{}, nil
}

// recordFailure leaves Ready Unknown, with the API server's reason and message, when planning
// or driving the build failed (a Secret the manager may not read, a Job the server refuses):
// otherwise only the manager's log would say why the archive does not move.
func (r *FlashArchiveReconciler) recordFailure(ctx context.Context, fa *fcv1.FlashArchive, err error) error {
	return recordFailure(ctx, r.Client, r.Recorder, fa, err, []string{fcv1.ConditionReady}, fa.Status.Conditions, func(conds []metav1.Condition) any {
		st := fa.Status.DeepCopy()
		st.Conditions = conds
		return st
	})
}

// progressInterval is how often a running build's progress is copied into the status.
const progressInterval = 2 * time.Second

// raced lets a write that lost a race with another writer go quietly: the object is gone
// (its last finalizer removed by an earlier pass whose event is still on its way) or changed
// (the next pass sees the change). Neither is the controller failing.
func raced(err error) (ctrl.Result, error) {
	switch {
	case err == nil:
		return ctrl.Result{}, nil
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err):
		return ctrl.Result{Requeue: true}, nil
	}
	return ctrl.Result{}, err
}

func (r *FlashArchiveReconciler) apply(ctx context.Context, fa *fcv1.FlashArchive, st *fcv1.FlashArchiveStatus) error {
	// status.capture is the install server's (its own field manager): sent back from a cache
	// that lags its write, it would undo that write.
	out := *st
	out.Capture = nil
	if err := applyStatus(ctx, r.Client, fa, &out); err != nil {
		return fmt.Errorf("patch status of FlashArchive %s/%s: %w", fa.Namespace, fa.Name, err)
	}
	return nil
}

// progress moves the build of the planned inputs one step and returns the new status, whose
// first condition is Ready, and the name of a job whose result it just recorded.
func (r *FlashArchiveReconciler) progress(ctx context.Context, fa *fcv1.FlashArchive, p plan, lim build.Limits) (fcv1.FlashArchiveStatus, string, error) {
	st := fa.Status
	st.ObservedGeneration = fa.Generation
	st.Conditions = nil
	st.Progress = nil
	st.Shell = ""
	set := func(phase fcv1.ArchivePhase, ok bool, reason, msg string) {
		st.Phase = phase
		st.Conditions = []metav1.Condition{condition(fa, fcv1.ConditionReady, ok, reason, msg)}
	}
	if p.captured != "" {
		if err := r.record(ctx, &st, executor.State{Digest: p.captured}, archiveTag(fa), p.capturedInputs, ""); err != nil {
			set(fcv1.ArchiveFailed, false, ReasonCaptureInvalid, fmt.Sprintf("the capture the install server recorded is not usable: %v", err))
			return st, "", nil
		}
		set(fcv1.ArchiveReady, true, ReasonCaptured, fmt.Sprintf("captured %s, stored at %s: %s", st.Digest, st.Location, p.message))
		return st, "", nil
	}
	if p.inputs == nil {
		set(p.phase, false, p.reason, p.message)
		return st, "", nil
	}
	inputs := p.inputs.Digest(r.InputsKey)
	tag := archiveTag(fa)
	if st.InputsDigest == string(inputs) && st.Phase == fcv1.ArchiveReady {
		err := r.ensureTag(ctx, tag, st.Digest)
		if err == nil {
			set(fcv1.ArchiveReady, true, ReasonBuilt, builtMessage(&st))
			return st, "", nil
		}
		// The repository lost the archive (a new volume, a manual gc): build it again.
		logf.FromContext(ctx).Info("built archive is gone from the repository; building it again", "reason", err.Error())
	}
	job := jobName(fa, inputs, lim)
	state, err := r.Executor.State(ctx, fa.Namespace, job)
	if err != nil {
		return st, "", err
	}
	if state.Phase == executor.Unknown {
		recorded, err := r.recorded(ctx, fa, inputs, tag)
		if err != nil {
			return st, "", err
		}
		if recorded != nil {
			st = *recorded
			st.ObservedGeneration = fa.Generation
			set(fcv1.ArchiveReady, true, ReasonBuilt, builtMessage(&st))
			return st, "", nil
		}
	}
	switch {
	case state.Phase == executor.Unknown || (state.Phase == executor.Failed && state.Retryable):
		if err := r.submit(ctx, fa, job, tag, p, inputs, lim); err != nil {
			return st, "", err
		}
		set(fcv1.ArchiveBuilding, false, ReasonBuilding, fmt.Sprintf("build of inputs %s submitted as %s", short(inputs), job))
	case state.Phase == executor.Running && state.Progress != nil && state.Progress.Stage == build.StageCustomize:
		phase, reason, msg, shell, err := r.customization(ctx, fa, job, state.Progress.Root)
		if err != nil {
			return st, "", err
		}
		st.Progress = &fcv1.BuildProgress{Stage: build.StageCustomize}
		st.Shell = shell
		set(phase, false, reason, msg)
	case state.Phase == executor.Pending || state.Phase == executor.Running:
		msg := fmt.Sprintf("build %s of inputs %s is %s", job, short(inputs), strings.ToLower(string(state.Phase)))
		if pr := state.Progress; pr != nil {
			st.Progress = &fcv1.BuildProgress{Stage: pr.Stage, Bytes: pr.Bytes, Total: pr.Total}
			msg += ": " + progressMessage(st.Progress)
		} else if state.Phase == executor.Running {
			st.Progress = &fcv1.BuildProgress{Stage: "start"}
		}
		set(fcv1.ArchiveBuilding, false, ReasonBuilding, msg)
	case state.Phase == executor.Failed:
		set(fcv1.ArchiveFailed, false, cmp.Or(state.Reason, ReasonBuildFailed), state.Message)
	default:
		if err := r.record(ctx, &st, state, tag, inputs, p.baseDigest); err != nil {
			set(fcv1.ArchiveFailed, false, ReasonResultMissing, fmt.Sprintf("build %s succeeded but its result is not in %s: %v", job, r.Repository, err))
			return st, "", nil
		}
		set(fcv1.ArchiveReady, true, ReasonBuilt, builtMessage(&st))
		return st, job, nil
	}
	return st, "", nil
}

// recorded returns the status the API server holds when it records these inputs as built
// and the repository still has the archive. The cache can lag behind the status this
// reconciler wrote when it recorded a build and forgot its job (the Job executor deletes the
// Job, which wakes the archive at once); without asking, the same inputs would be built again.
func (r *FlashArchiveReconciler) recorded(ctx context.Context, fa *fcv1.FlashArchive, inputs digest.Digest, tag string) (*fcv1.FlashArchiveStatus, error) {
	if r.APIReader == nil {
		return nil, nil
	}
	var fresh fcv1.FlashArchive
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(fa), &fresh); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	st := fresh.Status
	if fresh.UID != fa.UID || st.InputsDigest != string(inputs) || st.Phase != fcv1.ArchiveReady {
		return nil, nil
	}
	if err := r.ensureTag(ctx, tag, st.Digest); err != nil {
		return nil, nil
	}
	return &st, nil
}

// record reads a successful build's archive back from the repository (by the digest the
// executor reports, else by name), checks it was built from these inputs, names it, and
// writes it into the status.
func (r *FlashArchiveReconciler) record(ctx context.Context, st *fcv1.FlashArchiveStatus, state executor.State, tag string, inputs digest.Digest, baseDigest string) error {
	ref := tag
	if state.Digest != "" {
		ref = state.Digest
	}
	res, err := build.Describe(ctx, r.Store, ref, inputs)
	if err != nil {
		return err
	}
	if err := r.ensureTag(ctx, tag, string(res.Digest)); err != nil {
		return err
	}
	st.Digest, st.Size, st.InputsDigest, st.BaseDigest = string(res.Digest), res.Size, string(inputs), baseDigest
	st.Location = r.Repository + ":" + tag
	st.Sections = nil
	for _, s := range res.Sections {
		st.Sections = append(st.Sections, fcv1.ArchiveSection{Name: s.Name, MediaType: s.MediaType, Digest: string(s.Digest), Size: s.Size})
	}
	return nil
}

func builtMessage(st *fcv1.FlashArchiveStatus) string {
	return fmt.Sprintf("built %s from inputs %s, stored at %s", st.Digest, short(digest.Digest(st.InputsDigest)), st.Location)
}

func (r *FlashArchiveReconciler) submit(ctx context.Context, fa *fcv1.FlashArchive, job, tag string, p plan, inputs digest.Digest, lim build.Limits) error {
	req, err := json.Marshal(build.Request{Archive: fa.Namespace + "/" + fa.Name, Repository: r.Repository, Tag: tag, Inputs: *p.inputs,
		InputsDigest: inputs, Limits: lim, DockerConfig: p.dockerConfig})
	if err != nil {
		return err
	}
	gvk, err := apiutil.GVKForObject(fa, r.Scheme())
	if err != nil {
		return err
	}
	owner := *metav1.NewControllerRef(fa, gvk)
	// The build stops itself at its buildTimeout; the executor's deadline, a minute later, is
	// for a build that does not.
	deadline := cmp.Or(lim.BuildTimeout, build.DefaultLimits.BuildTimeout) + time.Minute
	if err := r.Executor.Submit(ctx, executor.Spec{Namespace: fa.Namespace, Name: job, Owner: owner, Request: req, Deadline: deadline,
		BuildRoot: p.inputs.Build != nil}); err != nil {
		return fmt.Errorf("submit build of FlashArchive %s/%s: %w", fa.Namespace, fa.Name, err)
	}
	logf.FromContext(ctx).Info("submitted build", "job", job, "inputs", inputs)
	return nil
}

// ensureTag makes the archive's name point at the digest its status records: a build of
// older inputs that finished last must not leave its archive under the name.
func (r *FlashArchiveReconciler) ensureTag(ctx context.Context, tag, dgst string) error {
	desc, err := r.Store.Resolve(ctx, dgst)
	if err != nil {
		return fmt.Errorf("archive %s is not in %s: %w", dgst, r.Repository, err)
	}
	if cur, err := r.Store.Resolve(ctx, tag); err == nil && cur.Digest == desc.Digest {
		return nil
	}
	if err := r.Store.Tag(ctx, desc, tag); err != nil {
		return fmt.Errorf("tag %s as %s: %w", dgst, tag, err)
	}
	return nil
}

// release untags a deleted archive and lets it go.
func (r *FlashArchiveReconciler) release(ctx context.Context, fa *fcv1.FlashArchive) error {
	if !controllerutil.ContainsFinalizer(fa, archiveFinalizer) {
		return nil
	}
	// Builds first: one still running would tag the name again after the untag.
	if err := r.Executor.ForgetOwner(ctx, fa.Namespace, fa.Name); err != nil {
		return fmt.Errorf("forget the builds of FlashArchive %s/%s: %w", fa.Namespace, fa.Name, err)
	}
	if err := r.Store.Untag(ctx, archiveTag(fa)); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("untag %s: %w", archiveTag(fa), err)
	}
	controllerutil.RemoveFinalizer(fa, archiveFinalizer)
	if err := r.Update(ctx, fa); err != nil {
		// Wrapped with %w: raced tells a lost race (not found, conflict) from a failure.
		return fmt.Errorf("remove finalizer from FlashArchive %s/%s: %w", fa.Namespace, fa.Name, err)
	}
	r.Recorder.Eventf(fa, nil, "Normal", "Untagged", "Delete", "untagged %s in %s; its blobs go at the next garbage collection", archiveTag(fa), r.Repository)
	return nil
}

// archiveTag is the archive's name in the repository: namespace.name, which is unique (a
// namespace has no dot) and a valid OCI tag; a name too long for a tag is cut and suffixed
// with a hash of the whole.
func archiveTag(fa *fcv1.FlashArchive) string { return ArchiveTag(fa.Namespace, fa.Name) }

// ArchiveTag is the repository name of the FlashArchive namespace/name (see archiveTag): the
// install server stores a capture under it.
func ArchiveTag(namespace, name string) string {
	t := namespace + "." + name
	if len(t) <= 128 {
		return t
	}
	return t[:115] + "-" + hash(t)[:12]
}

// RebuildAnnotation asks for a new build of the same inputs: a build that failed for a
// reason outside its inputs (a server that was down) runs again when its value changes.
const RebuildAnnotation = "flarecast.io/rebuild"

// jobName is the build's name in the executor: the same archive (by UID: a re-created archive
// starts afresh), inputs, limits and rebuild annotation give the same name, so a build is
// submitted once (and one that a limit stopped runs again when the limit changes); it fits
// a Job's 63 characters.
func jobName(fa *fcv1.FlashArchive, inputs digest.Digest, lim build.Limits) string {
	prefix := strings.ReplaceAll(fa.Name, ".", "-")
	if len(prefix) > 46 {
		prefix = strings.TrimRight(prefix[:46], "-")
	}
	limits, _ := json.Marshal(lim) // plain fields: cannot fail
	key := strings.Join([]string{string(fa.UID), fa.Name, string(inputs), fa.Annotations[RebuildAnnotation], string(limits)}, "\x00")
	return prefix + "-build-" + hash(key)[:10]
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func short(d digest.Digest) string {
	if e := d.Encoded(); len(e) > 12 {
		return d.Algorithm().String() + ":" + e[:12]
	}
	return string(d)
}

// requestFor maps a FlashArchive key to a reconcile request.
func requestFor(namespace, name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}}
}
