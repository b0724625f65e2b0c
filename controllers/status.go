package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/model"
)

// fieldOwner is the field manager of everything the controllers write. Other writers (the
// install server writing node phases) use their own, so server-side apply merges per field.
const fieldOwner = "flarecast-manager"

// applyStatus writes status with server-side apply: only the fields in status are claimed,
// so entries that other managers own (node phases in a NodesGroup) are left alone.
// status must be a pointer to the kind's status struct.
func applyStatus(ctx context.Context, c client.Client, obj client.Object, status any) error {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(status)
	if err != nil {
		return fmt.Errorf("convert status: %w", err)
	}
	return applyStatusFields(ctx, c, obj, fieldOwner, content)
}

// applyStatusFields applies the status fields given, and claims only them, under owner: the
// reconcilers that own one condition or one field of another's object (the Deployable
// condition of a NodesGroup, a Cluster's install server) write with their own manager.
func applyStatusFields(ctx context.Context, c client.Client, obj client.Object, owner string, status map[string]any) error {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(obj.GetNamespace())
	u.SetName(obj.GetName())
	u.Object["status"] = status
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership)
}

// condition builds a condition stamped with the generation it describes.
func condition(obj client.Object, typ string, ok bool, reason, message string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: message, ObservedGeneration: obj.GetGeneration()}
}

// setConditions merges want into the conditions already recorded (keeping transition times of
// those that did not change) and emits an event for each condition whose status changed.
func setConditions(rec recorder.EventRecorder, obj client.Object, current []metav1.Condition, want ...metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(current))
	copy(out, current)
	for _, c := range want {
		old := meta.FindStatusCondition(current, c.Type)
		meta.SetStatusCondition(&out, c)
		if rec != nil && (old == nil || old.Status != c.Status || old.Reason != c.Reason) {
			typ := "Normal"
			if c.Status == metav1.ConditionFalse && c.Type != fcv1.ConditionInUse {
				typ = "Warning"
			}
			rec.Eventf(obj, nil, typ, c.Reason, "Set"+c.Type, "%s", eventNote(fmt.Sprintf("%s=%s: %s", c.Type, c.Status, c.Message)))
		}
	}
	return out
}

// eventNoteLimit is the API server's bound, in bytes, on an event's note: a longer one is
// refused, and the event lost (a build's failure ends with its tool's last words, often more).
const eventNoteLimit = 1024

// eventNote bounds note to eventNoteLimit, keeping its start (what failed) and its end (a
// tool's last words), cut between characters.
func eventNote(note string) string {
	if len(note) <= eventNoteLimit {
		return note
	}
	const cut = " … "
	half := (eventNoteLimit - len(cut)) / 2
	head := half
	for head > 0 && !utf8.RuneStart(note[head]) {
		head--
	}
	tail := len(note) - half
	for tail < len(note) && !utf8.RuneStart(note[tail]) {
		tail++
	}
	return note[:head] + cut + note[tail:]
}

// summarize turns problems into a condition message: the first few in full, then a count,
// so a person reading `kubectl describe` sees what to fix without a wall of text.
func summarize(problems []model.Problem, limit int) string {
	var b strings.Builder
	for i, p := range problems {
		if i == limit {
			fmt.Fprintf(&b, "; and %d more", len(problems)-limit)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// ReasonReconcileError is the reason of a condition a pass could not decide because of an
// error that is not the API server's (which gives its own reason: Forbidden, NotFound…).
const ReasonReconcileError = "ReconcileError"

// writeStatus applies status unless same says it is what the object already records: a
// reconcile that has nothing new to say makes no API call.
func writeStatus(ctx context.Context, c client.Client, obj client.Object, same bool, status any) error {
	if same {
		return nil
	}
	return applyStatus(ctx, c, obj, status)
}

// recordFailure records on the object a pass that failed with err: each condition of
// types, the ones the failed step decides, becomes Unknown with the server's reason
// (Forbidden, NotFound, Timeout…, or ReasonReconcileError) and the error as its message,
// which carries the server's. with builds the status to apply from the object's own as
// recorded, with the conditions given: the rest stays as it was, observedGeneration
// included, since the pass did not finish. It returns err, and the write's own error
// beside it when that fails too. Nothing is written when types is empty, when the context
// is done (the manager is stopping), or when the object already says exactly this.
func recordFailure(ctx context.Context, c client.Client, rec recorder.EventRecorder, obj client.Object, err error,
	types []string, current []metav1.Condition, with func([]metav1.Condition) any) error {
	if len(types) == 0 || ctx.Err() != nil {
		return err
	}
	reason := string(apierrors.ReasonForError(err))
	if reason == "" || reason == string(metav1.StatusReasonUnknown) {
		reason = ReasonReconcileError
	}
	want := make([]metav1.Condition, 0, len(types))
	for _, t := range types {
		want = append(want, metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: reason,
			Message: err.Error(), ObservedGeneration: obj.GetGeneration()})
	}
	conds := setConditions(rec, obj, current, want...)
	if equality.Semantic.DeepEqual(conds, current) {
		return err
	}
	if werr := applyStatus(ctx, c, obj, with(conds)); werr != nil {
		return errors.Join(err, fmt.Errorf("record the failure in the status: %w", werr))
	}
	return err
}
