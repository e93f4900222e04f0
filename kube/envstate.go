package kube

import (
	"context"
	"fmt"
	"strings"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// EnvironmentState reports the environment as the caches see it.
// ENOTFOUND when its Deployment is gone.
func (r *Runtime) EnvironmentState(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	e, err := r.envRef(env)
	if err != nil {
		return nil, err
	}
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	return r.envState(e)
}

func (r *Runtime) envState(e envRef) (*berth.EnvironmentState, error) {
	i := r.listerIndex(e.ns)
	d, err := r.deploys[i].Deployments(e.ns).Get(e.name)
	if err != nil {
		return nil, berth.Errorf(berth.ENOTFOUND, "environment %s: deployment %s not found on target %s", e.id, e, r.cfg.Target)
	}
	if !e.owns(d) {
		return nil, berth.Errorf(berth.ECONFLICT, "environment %s: deployment %s is not berth's for this environment", e.id, e)
	}
	pods, _ := r.pods[i].Pods(e.ns).List(labels.SelectorFromSet(e.selector()))
	st := workspaceStatus(d, len(pods))
	st.URL = r.envURL(e)
	if st.Status == berth.EnvCreating || st.Status == berth.EnvStarting {
		var why []string
		if c, err := r.pvcs[i].PersistentVolumeClaims(e.ns).Get(e.name); err == nil && c.Status.Phase != corev1.ClaimBound {
			why = append(why, fmt.Sprintf("volume claim %s is %s", e.name, phaseOr(string(c.Status.Phase), "Pending")))
		}
		for _, p := range pods {
			if w := podWaiting(p); w != "" {
				why = append(why, w)
			}
		}
		if len(why) > 0 {
			st.Message = strings.Join(why, "; ")
		}
	}
	return st, nil
}

func phaseOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

// workspaceStatus maps the Deployment (and how many of its pods exist,
// terminating ones included) to Dev8's statuses.
func workspaceStatus(d *appsv1.Deployment, pods int) *berth.EnvironmentState {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	var progressing, failure *appsv1.DeploymentCondition
	for i := range d.Status.Conditions {
		c := &d.Status.Conditions[i]
		switch {
		case c.Type == appsv1.DeploymentProgressing:
			progressing = c
		case c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue:
			failure = c
		}
	}
	s := d.Status
	st := &berth.EnvironmentState{}
	switch {
	case desired == 0 && pods == 0 && s.Replicas == 0:
		st.Status = berth.EnvStopped
	case desired == 0:
		st.Status, st.Message = berth.EnvStopping, "the workspace pod is shutting down"
	case progressing != nil && progressing.Status == corev1.ConditionFalse && progressing.Reason == "ProgressDeadlineExceeded":
		st.Status, st.Message = berth.EnvError, progressing.Reason+": "+progressing.Message
	case failure != nil:
		st.Status, st.Message = berth.EnvError, failure.Reason+": "+failure.Message
	case s.ObservedGeneration >= d.Generation && s.AvailableReplicas >= 1 && s.UpdatedReplicas >= 1 && s.Replicas == s.UpdatedReplicas:
		st.Status = berth.EnvRunning
	default:
		st.Status = berth.EnvCreating
		if _, ok := d.Annotations[annotationStartedAt]; ok {
			st.Status = berth.EnvStarting
		}
	}
	return st
}

// podWaiting says why a workspace pod is not ready yet, if it knows.
func podWaiting(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return c.Reason + ": " + c.Message
		}
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
			return strings.TrimSuffix(w.Reason+": "+w.Message, ": ")
		}
	}
	return ""
}
