package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berthhq/berth"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var _ berth.AutoscaleReporter = (*Runtime)(nil)

// hpaTTL is how long one namespace's list of autoscaled workloads is
// reused: a refresh of recommendations asks once per service.
const hpaTTL = 30 * time.Second

type hpaCache struct {
	mu  sync.Mutex
	at  map[string]time.Time
	set map[string]map[string]bool // namespace → "Kind/name"
}

// Autoscaled reports whether a HorizontalPodAutoscaler targets the
// service's Deployment or StatefulSet: recommendations then leave its
// requests and replicas alone. Without the permission to list them
// (deploy/kubernetes/rbac.yaml grants it), no service counts as autoscaled.
func (r *Runtime) Autoscaled(ctx context.Context, ref berth.ServiceRef) (bool, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = r.cfg.DefaultNamespace
	}
	c := &r.hpa
	c.mu.Lock()
	if c.at == nil {
		c.at, c.set = map[string]time.Time{}, map[string]map[string]bool{}
	}
	defer c.mu.Unlock()
	if time.Since(c.at[ns]) > hpaTTL {
		l, err := r.client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			c.set[ns] = map[string]bool{}
		case err != nil:
			return false, fmt.Errorf("list autoscalers of %s: %w", ns, err)
		default:
			m := map[string]bool{}
			for _, h := range l.Items {
				m[h.Spec.ScaleTargetRef.Kind+"/"+h.Spec.ScaleTargetRef.Name] = true
			}
			c.set[ns] = m
		}
		c.at[ns] = time.Now()
	}
	return c.set[ns]["Deployment/"+ref.Name] || c.set[ns]["StatefulSet/"+ref.Name], nil
}
