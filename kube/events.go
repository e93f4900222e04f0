package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berthhq/berth"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

var _ berth.ServiceEventer = (*Runtime)(nil)

// eventsByObject indexes Events by what they are about, so a request reads
// only its workload's events instead of scanning the namespace.
const eventsByObject = "involvedObject"

// indexEventObject keys an Event by namespace/Kind/name of its object. An
// event about a pod is also keyed by the pod's name prefix ("PodOf"): a
// Deployment's pods are named <ReplicaSet>-<suffix> and a StatefulSet's
// <set>-<ordinal>, which finds the events of pods that are gone already.
func indexEventObject(obj any) ([]string, error) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil, nil
	}
	o := ev.InvolvedObject
	keys := []string{eventKey(ev.Namespace, o.Kind, o.Name)}
	if o.Kind == "Pod" {
		if i := strings.LastIndexByte(o.Name, '-'); i > 0 {
			keys = append(keys, eventKey(ev.Namespace, "PodOf", o.Name[:i]))
		}
	}
	return keys, nil
}

func eventKey(ns, kind, name string) string { return ns + "/" + kind + "/" + name }

// ServiceEvents returns the recent Events of the workload, of its
// ReplicaSets or ControllerRevisions and of its pods (current ones and
// those already gone), newest first, at most limit (0: all), from the cache.
func (r *Runtime) ServiceEvents(ctx context.Context, ref berth.ServiceRef, limit int) ([]berth.WorkloadEvent, error) {
	if limit < 0 {
		return nil, berth.Invalid("limit", "must not be negative, got %d", limit)
	}
	w, err := r.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	spec, err := r.workloadSpec(w)
	if err != nil {
		return nil, err
	}
	i := r.listerIndex(w.ns)
	// What the events may be about: object key → whether a "PodOf" key
	// must also check the pod name's suffix (a StatefulSet ordinal).
	keys := map[string]bool{eventKey(w.ns, w.kind, w.name): false}
	if w.kind == kindDeployment {
		sets, err := r.replicaSetsOf(w.ns, spec.uid)
		if err != nil {
			return nil, fmt.Errorf("events of service %s/%s: list replica sets: %w", w.ns, w.name, err)
		}
		for _, rs := range sets {
			keys[eventKey(w.ns, "ReplicaSet", rs.Name)] = false
			keys[eventKey(w.ns, "PodOf", rs.Name)] = false
		}
	} else {
		revs, err := r.controllerRevisionsOf(w.ns, spec.uid)
		if err != nil {
			return nil, fmt.Errorf("events of service %s/%s: list controller revisions: %w", w.ns, w.name, err)
		}
		for _, cr := range revs {
			keys[eventKey(w.ns, "ControllerRevision", cr.Name)] = false
		}
		keys[eventKey(w.ns, "PodOf", w.name)] = true
	}
	// Current pods, whatever their names.
	if pods, err := r.pods[i].Pods(w.ns).List(spec.selector); err == nil {
		for _, p := range pods {
			keys[eventKey(w.ns, "Pod", p.Name)] = false
		}
	}

	seen := map[types.UID]bool{}
	var evs []*corev1.Event
	for key, ordinal := range keys {
		objs, err := r.events[i].ByIndex(eventsByObject, key)
		if err != nil {
			return nil, fmt.Errorf("events of service %s/%s: %w", w.ns, w.name, err)
		}
		for _, obj := range objs {
			ev, ok := obj.(*corev1.Event)
			if !ok || seen[ev.UID] {
				continue
			}
			if ordinal && !isOrdinal(strings.TrimPrefix(ev.InvolvedObject.Name, w.name+"-")) {
				continue // another StatefulSet's pod, e.g. web-1-0 of web-1
			}
			seen[ev.UID] = true
			evs = append(evs, ev)
		}
	}
	sort.Slice(evs, func(a, b int) bool {
		ta, tb := eventTime(evs[a]), eventTime(evs[b])
		if !ta.Equal(tb) {
			return ta.After(tb)
		}
		return evs[a].Name > evs[b].Name
	})
	if limit > 0 && len(evs) > limit {
		evs = evs[:limit]
	}
	out := make([]berth.WorkloadEvent, 0, len(evs))
	for _, ev := range evs {
		out = append(out, workloadEvent(ev))
	}
	return out, nil
}

func workloadEvent(ev *corev1.Event) berth.WorkloadEvent {
	count := int(ev.Count)
	if ev.Series != nil && int(ev.Series.Count) > count {
		count = int(ev.Series.Count)
	}
	return berth.WorkloadEvent{
		Time:    eventTime(ev).UTC(),
		Type:    ev.Type,
		Reason:  ev.Reason,
		Object:  ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name,
		Message: ev.Message,
		Count:   max(count, 1),
	}
}

// eventTime is when the event last happened: the core/v1 recorder sets
// LastTimestamp, the events.k8s.io one EventTime and Series.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

func isOrdinal(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// workloadSpec is what logs and events need of a workload.
type workloadSpec struct {
	uid      types.UID
	selector labels.Selector
	template corev1.PodTemplateSpec
}

// workloadSpec reads the workload w from the cache.
func (r *Runtime) workloadSpec(w *workload) (*workloadSpec, error) {
	i := r.listerIndex(w.ns)
	var meta metav1.ObjectMeta
	var sel *metav1.LabelSelector
	var tmpl corev1.PodTemplateSpec
	if w.kind == kindDeployment {
		d, err := r.deploys[i].Deployments(w.ns).Get(w.name)
		if err != nil {
			return nil, berth.NotFound("service", w.ns+"/"+w.name)
		}
		meta, sel, tmpl = d.ObjectMeta, d.Spec.Selector, d.Spec.Template
	} else {
		s, err := r.sets[i].StatefulSets(w.ns).Get(w.name)
		if err != nil {
			return nil, berth.NotFound("service", w.ns+"/"+w.name)
		}
		meta, sel, tmpl = s.ObjectMeta, s.Spec.Selector, s.Spec.Template
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, berth.Errorf(berth.ESERVICE, "service %s/%s: selector: %v", w.ns, w.name, err)
	}
	if selector.Empty() {
		selector = labels.Nothing() // an empty selector would take every pod of the namespace
	}
	return &workloadSpec{uid: meta.UID, selector: selector, template: tmpl}, nil
}
