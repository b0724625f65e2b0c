package model

import (
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// bytesOf parses a size quantity (480Gi, 1.5T) into bytes, rounding a fraction up.
func bytesOf(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity such as 480Gi", s)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	if q.Cmp(*resource.NewQuantity(math.MaxInt64, resource.BinarySI)) > 0 {
		return 0, fmt.Errorf("%q is larger than 8Ei", s)
	}
	return q.Value(), nil
}

// human renders bytes as the largest binary unit that divides them, for messages.
func human(b int64) string {
	return resource.NewQuantity(b, resource.BinarySI).String()
}
