package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestRollbackStatefulSet: a StatefulSet berth did not create has its
// ControllerRevisions as revisions, and rolls back as `kubectl rollout undo`
// does: the old template is back on the object in the cluster.
func TestRollbackStatefulSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "db"}
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: e.ns},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(int32(1)), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "postgres:16"}}}}}}
	if _, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.kubectl(t, "set", "image", "statefulset/db", "db=postgres:17")
	image := func() string {
		return e.kubectl(t, "get", "statefulset", "db", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	}
	var revs []*berth.Revision
	if err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		var err error
		if revs, err = e.rt.ServiceRevisions(ctx, e.ref("db")); err == nil && len(revs) != 2 {
			err = fmt.Errorf("%d revisions", len(revs))
		}
		return err
	}); err != nil {
		t.Fatalf("revisions: %v", err)
	}
	if revs[0].Number != 2 || revs[0].Spec.Image != "postgres:17" || revs[1].Number != 1 || revs[1].Spec.Image != "postgres:16" {
		t.Errorf("revisions = %d %s, %d %s; want 2 postgres:17, 1 postgres:16",
			revs[0].Number, revs[0].Spec.Image, revs[1].Number, revs[1].Spec.Image)
	}

	if err := e.rt.RollbackService(ctx, e.ref("db"), 0); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := image(); got != "postgres:16" {
		t.Errorf("image after rollback = %q, want postgres:16", got)
	}
	if err := e.rt.RollbackService(ctx, e.ref("db"), 9); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("rollback to a missing revision: %v, want NOT_FOUND", err)
	}
	// The controller records the rollback as a new revision, as for kubectl.
	if err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		revs, err := e.rt.ServiceRevisions(ctx, e.ref("db"))
		if err == nil && (len(revs) != 2 || revs[0].Number != 3 || revs[0].Spec.Image != "postgres:16") {
			err = fmt.Errorf("revisions after rollback: %d, newest %d", len(revs), revs[0].Number)
		}
		return err
	}); err != nil {
		t.Error(err)
	}
}
