package kube

import (
	"testing"
	"time"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The status mapping over states that a fake node cannot hold still long
// enough to observe (kwok makes pods ready at once); the real cluster tests
// cover RUNNING, STOPPED and ProgressDeadlineExceeded end to end.
func TestDeploymentStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	complete := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}
	rolling := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}
	quota := appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "exceeded quota"}
	young, old := metav1.NewTime(now.Add(-10*time.Second)), metav1.NewTime(now.Add(-time.Hour))
	pod := func(name string, ready bool, restarts int32, started metav1.Time) *corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
				ContainerStatuses: []corev1.ContainerStatus{{RestartCount: restarts}}},
		}
	}
	for _, tc := range []struct {
		name      string
		replicas  int32
		status    appsv1.DeploymentStatus
		conds     []appsv1.DeploymentCondition
		pods      []*corev1.Pod
		want      berth.ServiceStatus
		wantReady int
	}{
		{name: "new", replicas: 2, want: berth.ServicePending},
		{name: "rolling out", replicas: 2, status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2, ReadyReplicas: 2},
			conds: []appsv1.DeploymentCondition{rolling}, want: berth.ServiceDeploying, wantReady: 2},
		{name: "running", replicas: 2, status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2},
			conds: []appsv1.DeploymentCondition{complete}, want: berth.ServiceRunning, wantReady: 2},
		{name: "lost a replica", replicas: 2, status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1, ReadyReplicas: 1},
			conds: []appsv1.DeploymentCondition{complete}, pods: []*corev1.Pod{pod("a", true, 0, old), pod("b", false, 3, old)},
			want: berth.ServiceDegraded, wantReady: 1},
		{name: "scaling up", replicas: 3, status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1, ReadyReplicas: 1},
			conds: []appsv1.DeploymentCondition{complete}, pods: []*corev1.Pod{pod("a", true, 0, old), pod("b", false, 0, young), pod("c", false, 0, young)},
			want: berth.ServiceDeploying, wantReady: 1},
		{name: "quota", replicas: 2, status: appsv1.DeploymentStatus{ObservedGeneration: 1},
			conds: []appsv1.DeploymentCondition{quota}, want: berth.ServiceError},
		{name: "scaled to zero", replicas: 0, status: appsv1.DeploymentStatus{ObservedGeneration: 1},
			conds: []appsv1.DeploymentCondition{complete}, want: berth.ServiceStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Generation: 1},
				Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(tc.replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
				Status:     tc.status,
			}
			d.Status.Conditions = tc.conds
			if d.Status.ObservedGeneration > 1 {
				d.Generation = d.Status.ObservedGeneration
			}
			r := &Runtime{cfg: Config{Now: func() time.Time { return now }}}
			st := deploymentState(d)
			for _, p := range tc.pods {
				st.Instances = append(st.Instances, berth.ReplicaState{Name: p.Name, Ready: p.Status.Conditions[0].Status == corev1.ConditionTrue,
					Restarts: int(p.Status.ContainerStatuses[0].RestartCount), StartedAt: &p.Status.StartTime.Time})
			}
			r.scalingUp(st)
			if st.Status != tc.want || st.ReadyReplicas != tc.wantReady {
				t.Errorf("status %s ready %d (%q), want %s ready %d", st.Status, st.ReadyReplicas, st.Message, tc.want, tc.wantReady)
			}
		})
	}
}
