package kube

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Which API answers a write retries: the classification itself, since a
// real API server cannot be made to answer 5xx on demand.
func TestUpdateRetries(t *testing.T) {
	t.Parallel()
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, tc := range []struct {
		name  string
		err   error
		calls int
	}{
		{"conflict", apierrors.NewConflict(gr, "web", errors.New("changed")), 5},
		{"429", apierrors.NewTooManyRequests("slow down", 1), 5},
		{"503", apierrors.NewServiceUnavailable("busy"), 5},
		{"500", apierrors.NewInternalError(errors.New("boom")), 5},
		{"timeout", apierrors.NewServerTimeout(gr, "update", 1), 5},
		{"invalid", apierrors.NewBadRequest("no"), 1},
		{"not found", apierrors.NewNotFound(gr, "web"), 1},
		{"unreachable", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), 1},
		// What client-go answers once the caller's context is cancelled;
		// retry.OnError alone would report it as success.
		{"cancelled", fmt.Errorf("Get \"https://127.0.0.1/apis/apps/v1\": %w", context.Canceled), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := update(func() error { calls++; return tc.err })
			if calls != tc.calls || err == nil {
				t.Errorf("calls = %d (err %v), want %d and the error", calls, err, tc.calls)
			}
		})
	}
}
