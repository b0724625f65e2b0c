package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	fcv1 "github.com/flarecast/flarecast/api/v1alpha1"
	"github.com/flarecast/flarecast/internal/executor/build"
)

// limitsFor is the manager's limits with the archive's spec.limits over them, or a message
// saying which field cannot be read (the API server checks their form; a value out of range
// still gets here).
func (r *FlashArchiveReconciler) limitsFor(fa *fcv1.FlashArchive) (build.Limits, string) {
	lim := r.Limits
	sl := fa.Spec.Limits
	if sl == nil {
		return lim, ""
	}
	for _, d := range []struct {
		field, value string
		into         *time.Duration
	}{
		{"connectTimeout", sl.ConnectTimeout, &lim.ConnectTimeout},
		{"firstByteTimeout", sl.FirstByteTimeout, &lim.FirstByteTimeout},
		{"idleTimeout", sl.IdleTimeout, &lim.IdleTimeout},
		{"downloadTimeout", sl.DownloadTimeout, &lim.DownloadTimeout},
		{"buildTimeout", sl.BuildTimeout, &lim.BuildTimeout},
	} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		if err != nil || v <= 0 {
			return lim, fmt.Sprintf("spec.limits.%s: %q is not a positive duration (say 30s, 5m, 1h)", d.field, d.value)
		}
		*d.into = v
	}
	if sl.MaxSize != "" {
		q, err := resource.ParseQuantity(sl.MaxSize)
		if err != nil || q.Value() <= 0 {
			return lim, fmt.Sprintf("spec.limits.maxSize: %q is not a positive size (say 8Gi)", sl.MaxSize)
		}
		lim.MaxSize = q.Value()
	}
	return lim, ""
}

// progressMessage says how far a build has got, for the Ready condition.
func progressMessage(p *fcv1.BuildProgress) string {
	if p.Total > 0 {
		return fmt.Sprintf("%s: %d of %d bytes", p.Stage, p.Bytes, p.Total)
	}
	return fmt.Sprintf("%s: %d bytes", p.Stage, p.Bytes)
}
