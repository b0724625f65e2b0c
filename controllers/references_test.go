package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
)

// A finalizer swapped for another (same count) is a change the in-use reconcilers must see:
// another controller removing ours while adding its own would otherwise go unnoticed.
func TestFinalizerSwapIsAChange(t *testing.T) {
	old := &fcv1.Network{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{inUseFinalizer}}}
	swapped := &fcv1.Network{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{"example.com/other"}}}
	same := old.DeepCopy()
	p := finalizerOrDeletionChanged()
	if !p.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: swapped}) {
		t.Error("a swapped finalizer was not seen as a change")
	}
	if p.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: same}) {
		t.Error("an unchanged object was seen as a change")
	}
}
