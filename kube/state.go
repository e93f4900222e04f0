package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceState reports the workload as the caches see it.
func (r *Runtime) ServiceState(ctx context.Context, ref berth.ServiceRef) (*berth.ServiceState, error) {
	w, err := r.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	i := r.listerIndex(w.ns)
	if w.kind == kindDeployment {
		d, err := r.deploys[i].Deployments(w.ns).Get(w.name)
		if err != nil {
			return nil, berth.NotFound("service", w.ns+"/"+w.name)
		}
		st := deploymentState(d)
		st.Instances = r.instances(d.Namespace, d.Spec.Selector)
		r.scalingUp(st)
		return st, nil
	}
	s, err := r.sets[i].StatefulSets(w.ns).Get(w.name)
	if err != nil {
		return nil, berth.NotFound("service", w.ns+"/"+w.name)
	}
	st := statefulSetState(s)
	st.Instances = r.instances(s.Namespace, s.Spec.Selector)
	r.scalingUp(st)
	return st, nil
}

// startGrace is how long a new replica may take to become ready before it
// counts as missing rather than starting.
const startGrace = 2 * time.Minute

// scalingUp tells a scale-up from a loss: the controller keeps its
// "rollout complete" condition while new replicas start, so a workload
// whose only unready replicas are young and never restarted is DEPLOYING,
// not DEGRADED.
func (r *Runtime) scalingUp(st *berth.ServiceState) {
	if st.Status != berth.ServiceDegraded {
		return
	}
	unready := 0
	for _, in := range st.Instances {
		if in.Ready {
			continue
		}
		unready++
		if in.Restarts > 0 || (in.StartedAt != nil && r.cfg.Now().Sub(*in.StartedAt) > startGrace) {
			return
		}
	}
	if unready > 0 && st.ReadyReplicas+unready >= st.Replicas {
		st.Status = berth.ServiceDeploying
	}
}

// instances are the workload's pods, from the cache.
func (r *Runtime) instances(ns string, sel *metav1.LabelSelector) []berth.ReplicaState {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || selector.Empty() {
		return nil
	}
	i := r.listerIndex(ns)
	pods, err := r.pods[i].Pods(ns).List(selector)
	if err != nil {
		return nil
	}
	sort.Slice(pods, func(a, b int) bool { return pods[a].Name < pods[b].Name })
	out := make([]berth.ReplicaState, 0, len(pods))
	for _, p := range pods {
		rs := berth.ReplicaState{Name: p.Name, State: podState(p)}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				rs.Ready = true
			}
		}
		for _, c := range p.Status.ContainerStatuses {
			rs.Restarts += int(c.RestartCount)
			if t := c.LastTerminationState.Terminated; t != nil {
				rs.LastExit = fmt.Sprintf("exit status %d (%s)", t.ExitCode, t.Reason)
			}
		}
		if p.Status.StartTime != nil {
			t := p.Status.StartTime.Time
			rs.StartedAt = &t
		}
		if owner := metav1.GetControllerOf(p); owner != nil && owner.Kind == "ReplicaSet" {
			if set, err := r.rsets[i].ReplicaSets(ns).Get(owner.Name); err == nil {
				rs.Revision, _ = strconv.Atoi(set.Annotations[annotationDeploymentRevision])
			}
		}
		out = append(out, rs)
	}
	return out
}

// podState names a pod's state as the local runtime names a process's.
func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "stopping"
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				return "backoff"
			}
		}
		return "running"
	case corev1.PodSucceeded, corev1.PodFailed:
		return "exited"
	default:
		return "starting"
	}
}

// stoppedCount reports whether berth stopped the workload and the replicas
// to start it with.
func stoppedCount(ann map[string]string, replicas int) (int, bool) {
	before, ok := ann[AnnotationReplicasBeforeStop]
	if !ok || replicas != 0 {
		return replicas, false
	}
	n, err := strconv.Atoi(before)
	if err != nil {
		return replicas, true
	}
	return n, true
}

func deploymentState(d *appsv1.Deployment) *berth.ServiceState {
	desired := 1
	if d.Spec.Replicas != nil {
		desired = int(*d.Spec.Replicas)
	}
	st := &berth.ServiceState{ReadyReplicas: int(d.Status.ReadyReplicas), Paused: d.Spec.Paused}
	st.Revision, _ = strconv.Atoi(d.Annotations[annotationDeploymentRevision])
	st.Replicas, st.Stopped = stoppedCount(d.Annotations, desired)
	var progressing, failure *appsv1.DeploymentCondition
	for i := range d.Status.Conditions {
		c := &d.Status.Conditions[i]
		switch c.Type {
		case appsv1.DeploymentProgressing:
			progressing = c
		case appsv1.DeploymentReplicaFailure:
			if c.Status == corev1.ConditionTrue {
				failure = c
			}
		}
	}
	s := d.Status
	observed := s.ObservedGeneration >= d.Generation
	switch {
	case progressing != nil && progressing.Status == corev1.ConditionFalse && progressing.Reason == "ProgressDeadlineExceeded":
		st.Status, st.Message = berth.ServiceError, progressing.Reason+": "+progressing.Message
	case failure != nil:
		st.Status, st.Message = berth.ServiceError, failure.Reason+": "+failure.Message
	case st.Stopped || desired == 0:
		st.Status = berth.ServiceStopped
		if s.Replicas > 0 {
			st.Message = fmt.Sprintf("%d replicas still running", s.Replicas)
		}
	case s.ObservedGeneration == 0:
		st.Status = berth.ServicePending
	case observed && s.UpdatedReplicas == int32(desired) && s.Replicas == int32(desired) && s.AvailableReplicas == int32(desired):
		st.Status = berth.ServiceRunning
	case !observed || s.UpdatedReplicas < int32(desired) || s.Replicas > s.UpdatedReplicas ||
		progressing == nil || progressing.Reason != "NewReplicaSetAvailable":
		// A rollout (or the first one) is under way.
		st.Status = berth.ServiceDeploying
		st.Message = fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, desired)
	default:
		st.Status = berth.ServiceDegraded
		st.Message = fmt.Sprintf("%d of %d replicas available", s.AvailableReplicas, desired)
	}
	return st
}

func statefulSetState(s *appsv1.StatefulSet) *berth.ServiceState {
	desired := 1
	if s.Spec.Replicas != nil {
		desired = int(*s.Spec.Replicas)
	}
	st := &berth.ServiceState{ReadyReplicas: int(s.Status.ReadyReplicas)}
	st.Replicas, st.Stopped = stoppedCount(s.Annotations, desired)
	status := s.Status
	switch {
	case st.Stopped || desired == 0:
		st.Status = berth.ServiceStopped
	case status.ObservedGeneration == 0:
		st.Status = berth.ServicePending
	case status.ObservedGeneration >= s.Generation && status.UpdatedReplicas == int32(desired) &&
		status.AvailableReplicas == int32(desired) && status.CurrentRevision == status.UpdateRevision:
		st.Status = berth.ServiceRunning
	case status.UpdatedReplicas < int32(desired) || status.CurrentRevision != status.UpdateRevision || status.ObservedGeneration < s.Generation:
		st.Status = berth.ServiceDeploying
		st.Message = fmt.Sprintf("%d of %d updated replicas available", status.AvailableReplicas, desired)
	default:
		st.Status = berth.ServiceDegraded
		st.Message = fmt.Sprintf("%d of %d replicas available", status.AvailableReplicas, desired)
	}
	return st
}

// ListServices returns every Deployment and StatefulSet of the watched
// namespaces, those berth created (Managed) and the others, from the
// caches, sorted by namespace, name, then kind.
func (r *Runtime) ListServices(ctx context.Context) ([]*berth.Service, error) {
	keys, _, err := r.ServiceKeys(ctx)
	if err != nil {
		return nil, err
	}
	svcs, err := r.ServicesOf(ctx, keys)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(svcs, func(s *berth.Service) bool { return s == nil }), nil
}

func (r *Runtime) deploymentService(d *appsv1.Deployment) *berth.Service {
	st := deploymentState(d)
	spec := specOf(d.Namespace, st.Replicas, d.Spec.Template)
	return r.service(d.Name, d.Namespace, d.Labels, d.CreationTimestamp.Time, st, spec)
}

func (r *Runtime) statefulSetService(s *appsv1.StatefulSet) *berth.Service {
	st := statefulSetState(s)
	spec := specOf(s.Namespace, st.Replicas, s.Spec.Template)
	return r.service(s.Name, s.Namespace, s.Labels, s.CreationTimestamp.Time, st, spec)
}

func (r *Runtime) service(name, ns string, labels map[string]string, created time.Time, st *berth.ServiceState, spec berth.ServiceSpec) *berth.Service {
	spec.Target = r.cfg.Target
	return &berth.Service{
		Name: name, Target: r.cfg.Target, Namespace: ns,
		Status: st.Status, Replicas: st.Replicas, ReadyReplicas: st.ReadyReplicas, Revision: st.Revision,
		Managed: labels[LabelManagedBy] == ManagedBy, Stopped: st.Stopped, Spec: spec, Message: st.Message,
		Owner: labels[LabelOwner], CreatedAt: created, UpdatedAt: created,
	}
}
