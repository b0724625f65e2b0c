package executor

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// A failed build Job's message says how to read its log with a command that works as given:
// the Job is in the archive's namespace, which is rarely the user's current one.
func TestFailedJobMessageGivesAWorkingLogsCommand(t *testing.T) {
	s := runtime.NewScheme()
	if err := batchv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "site-a", Name: "base-build-0123456789"},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"},
		}},
	}
	e, err := NewJob(JobOptions{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(j).Build(), Image: "i"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.State(context.Background(), "site-a", j.Name)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != Failed || !strings.Contains(st.Message, "kubectl logs -n site-a job/"+j.Name) {
		t.Fatalf("state %+v, want Failed with `kubectl logs -n site-a job/%s`", st, j.Name)
	}
}
