package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rollbackSkip are the Deployment annotations a rollback keeps instead of
// copying them from the ReplicaSet: kubectl's list (annotationsToSkip in
// kubectl's rollback.go) plus berth's stop bookkeeping, which is about now,
// not about the revision.
var rollbackSkip = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	annotationDeploymentRevision:                       true,
	"deployment.kubernetes.io/revision-history":        true,
	"deployment.kubernetes.io/desired-replicas":        true,
	"deployment.kubernetes.io/max-replicas":            true,
	"deprecated.deployment.rollback.to":                true,
	AnnotationReplicasBeforeStop:                       true,
	AnnotationStoppedAt:                                true,
}

// RollbackService has `kubectl rollout undo` semantics: the Deployment gets
// the pod template of its ReplicaSet with that revision (0: the one before
// the current), which the controller rolls out as a new revision. A paused
// Deployment is refused.
func (r *Runtime) RollbackService(ctx context.Context, ref berth.ServiceRef, revision int) error {
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("roll back service %s/%s", w.ns, w.name)
	if revision < 0 {
		return berth.Invalid("revision", "must not be negative, got %d", revision)
	}
	if w.kind == kindStatefulSet {
		return r.rollbackStatefulSet(ctx, w, revision, what)
	}
	err = update(func() error {
		deploys := r.client.AppsV1().Deployments(w.ns)
		d, err := deploys.Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Paused {
			return berth.Errorf(berth.ECONFLICT, "the deployment is paused (resume its rollout first)")
		}
		rs, err := r.revisionOf(d, revision)
		if err != nil {
			return err
		}
		tmpl := *rs.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		if apiequality.Semantic.DeepEqual(tmpl, d.Spec.Template) {
			return nil // already at that template, as kubectl skips it
		}
		ann := map[string]string{}
		for k, v := range d.Annotations {
			if rollbackSkip[k] {
				ann[k] = v
			}
		}
		for k, v := range rs.Annotations {
			if !rollbackSkip[k] {
				ann[k] = v
			}
		}
		d.Spec.Template, d.Annotations = tmpl, ann
		d, err = deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
		if err == nil {
			r.await(ctx, w, d.ResourceVersion)
		}
		return err
	})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	return nil
}

// revisionOf finds the Deployment's ReplicaSet of a revision in the cache;
// 0 means the newest one before the current revision.
func (r *Runtime) revisionOf(d *appsv1.Deployment, revision int) (*appsv1.ReplicaSet, error) {
	sets, err := r.replicaSetsOf(d.Namespace, d.UID)
	if err != nil {
		return nil, err
	}
	current, _ := strconv.Atoi(d.Annotations[annotationDeploymentRevision])
	var best *appsv1.ReplicaSet
	bestRev := 0
	revs := map[int]bool{}
	for _, rs := range sets {
		n, err := strconv.Atoi(rs.Annotations[annotationDeploymentRevision])
		if err != nil {
			continue
		}
		revs[n] = true
		switch {
		case revision > 0 && n == revision:
			return rs, nil
		case revision == 0 && n < current && n > bestRev:
			best, bestRev = rs, n
		}
	}
	if best == nil {
		if revision == 0 {
			return nil, berth.Errorf(berth.ENOTFOUND, "no revision before the current one (%d)", current)
		}
		return nil, berth.Errorf(berth.ENOTFOUND, "revision %d not found (kept: %v)", revision, slices.Sorted(maps.Keys(revs)))
	}
	return best, nil
}

// rollbackStatefulSet is `kubectl rollout undo statefulset`: the
// ControllerRevision's data (the whole pod template, as a patch) is applied
// to the set, which the controller rolls out as a new revision; 0 means the
// newest revision before the current one.
func (r *Runtime) rollbackStatefulSet(ctx context.Context, w *workload, revision int, what string) error {
	set, err := r.client.AppsV1().StatefulSets(w.ns).Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	history, err := r.controllerRevisionsOf(w.ns, set.UID)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	slices.SortFunc(history, func(a, b *appsv1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	var to *appsv1.ControllerRevision
	switch {
	case revision == 0 && len(history) < 2:
		return berth.Errorf(berth.ENOTFOUND, "%s: no revision before the current one", what)
	case revision == 0:
		to = history[len(history)-2]
	default:
		for _, cr := range history {
			if cr.Revision == int64(revision) {
				to = cr
			}
		}
		if to == nil {
			var kept []int64
			for _, cr := range history {
				kept = append(kept, cr.Revision)
			}
			return berth.Errorf(berth.ENOTFOUND, "%s: revision %d not found (kept: %v)", what, revision, kept)
		}
	}
	// Already at that template: kubectl skips it too. (The set's status
	// names its revision only once the controller caught up: compare the
	// templates themselves.)
	tmpl, err := revisionTemplate(to)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if apiequality.Semantic.DeepEqual(tmpl, set.Spec.Template) {
		return nil
	}
	// The revision's data is a strategic merge patch that replaces the template.
	updated, err := r.client.AppsV1().StatefulSets(w.ns).Patch(ctx, w.name, types.StrategicMergePatchType, to.Data.Raw,
		metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, w, updated.ResourceVersion)
	return nil
}
