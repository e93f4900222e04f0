package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var _ berth.RevisionLister = (*Runtime)(nil)

// annotationChangeCause is what `kubectl … --record` and many pipelines set
// to say why a rollout happened.
const annotationChangeCause = "kubernetes.io/change-cause"

// ServiceRevisions lists the revisions the cluster keeps of a workload,
// newest first, from the caches: a Deployment's ReplicaSets (numbered by
// deployment.kubernetes.io/revision, as `kubectl rollout history`) or a
// StatefulSet's ControllerRevisions. Secret values are never read.
func (r *Runtime) ServiceRevisions(ctx context.Context, ref berth.ServiceRef) ([]*berth.Revision, error) {
	w, err := r.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	i := r.listerIndex(w.ns)
	var out []*berth.Revision
	if w.kind == kindDeployment {
		d, err := r.deploys[i].Deployments(w.ns).Get(w.name)
		if err != nil {
			return nil, berth.NotFound("service", w.ns+"/"+w.name)
		}
		sets, err := r.replicaSetsOf(w.ns, d.UID)
		if err != nil {
			return nil, fmt.Errorf("revisions of %s/%s: %w", w.ns, w.name, err)
		}
		for _, rs := range sets {
			n, err := strconv.Atoi(rs.Annotations[annotationDeploymentRevision])
			if err != nil {
				continue
			}
			out = append(out, r.revision(ref, n, rs.ObjectMeta, rs.Spec.Template))
		}
	} else {
		s, err := r.sets[i].StatefulSets(w.ns).Get(w.name)
		if err != nil {
			return nil, berth.NotFound("service", w.ns+"/"+w.name)
		}
		revs, err := r.controllerRevisionsOf(w.ns, s.UID)
		if err != nil {
			return nil, fmt.Errorf("revisions of %s/%s: %w", w.ns, w.name, err)
		}
		for _, cr := range revs {
			tmpl, err := revisionTemplate(cr)
			if err != nil {
				return nil, fmt.Errorf("revisions of %s/%s: %w", w.ns, w.name, err)
			}
			out = append(out, r.revision(ref, int(cr.Revision), cr.ObjectMeta, tmpl))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Number > out[b].Number })
	return out, nil
}

func (r *Runtime) revision(ref berth.ServiceRef, n int, meta metav1.ObjectMeta, tmpl corev1.PodTemplateSpec) *berth.Revision {
	cause := meta.Annotations[annotationChangeCause]
	if cause == "" {
		cause = "rollout"
	}
	spec := specOf(meta.Namespace, 0, tmpl)
	spec.Replicas, spec.Target = nil, r.cfg.Target // a revision is a template, not a scale
	return &berth.Revision{Service: ref, Number: n, Spec: spec, Cause: cause, CreatedAt: meta.CreationTimestamp.Time}
}

// replicaSetsOf are the cached ReplicaSets the Deployment uid controls (as
// kubectl matches them: by controller reference, not by labels).
func (r *Runtime) replicaSetsOf(ns string, uid types.UID) ([]*appsv1.ReplicaSet, error) {
	all, err := r.rsets[r.listerIndex(ns)].ReplicaSets(ns).List(everything)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(rs *appsv1.ReplicaSet) bool { return !controlledBy(rs, uid) }), nil
}

// controllerRevisionsOf are the cached ControllerRevisions the StatefulSet
// uid controls.
func (r *Runtime) controllerRevisionsOf(ns string, uid types.UID) ([]*appsv1.ControllerRevision, error) {
	all, err := r.crevs[r.listerIndex(ns)].ControllerRevisions(ns).List(everything)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(cr *appsv1.ControllerRevision) bool { return !controlledBy(cr, uid) }), nil
}

func controlledBy(obj metav1.Object, uid types.UID) bool {
	c := metav1.GetControllerOf(obj)
	return c != nil && c.UID == uid
}

// revisionTemplate reads a StatefulSet's ControllerRevision: its data is the
// patch the controller applies, which holds the whole pod template.
func revisionTemplate(cr *appsv1.ControllerRevision) (corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &patch); err != nil {
		return corev1.PodTemplateSpec{}, fmt.Errorf("read controller revision %s: %w", cr.Name, err)
	}
	return patch.Spec.Template, nil
}
