package kube

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// The status mapping over states a fake node passes too fast to observe
// (kwok readies and removes pods at once); the cluster tests cover
// CREATING, RUNNING, STOPPED and ERROR end to end.
func TestWorkspaceStatus(t *testing.T) {
	t.Parallel()
	available := appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
	quota := appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "exceeded quota"}
	for _, tc := range []struct {
		name     string
		replicas int32
		ann      map[string]string
		status   appsv1.DeploymentStatus
		pods     int
		want     berth.EnvStatus
	}{
		{"running", 1, nil, available, 1, berth.EnvRunning},
		{"first start", 1, nil, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1}, 1, berth.EnvCreating},
		{"not observed yet", 1, nil, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}, 1, berth.EnvCreating},
		{"start after stop", 1, map[string]string{annotationStartedAt: "x"}, appsv1.DeploymentStatus{ObservedGeneration: 2}, 0, berth.EnvStarting},
		{"pod still terminating", 0, nil, appsv1.DeploymentStatus{ObservedGeneration: 2}, 1, berth.EnvStopping},
		{"replicas not yet down", 0, nil, available, 0, berth.EnvStopping},
		{"stopped", 0, map[string]string{AnnotationStoppedAt: "x"}, appsv1.DeploymentStatus{ObservedGeneration: 2}, 0, berth.EnvStopped},
		{"quota", 1, nil, appsv1.DeploymentStatus{ObservedGeneration: 2, Conditions: []appsv1.DeploymentCondition{quota}}, 0, berth.EnvError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2, Annotations: tc.ann},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To(tc.replicas)}, Status: tc.status}
			if got := workspaceStatus(d, tc.pods); got.Status != tc.want {
				t.Errorf("status %s (%s), want %s", got.Status, got.Message, tc.want)
			}
		})
	}
}

// Object names come from the id; ids that are no DNS label are folded
// into one, distinct per id.
func TestEnvRefNames(t *testing.T) {
	t.Parallel()
	r := &Runtime{cfg: Config{EnvNamespace: "ns"}}
	seen := map[string]string{}
	for _, id := range []string{"env-abc123xyz0", "Env_ABC", "env_abc", "9lives", "a.b", "--", strings.Repeat("Ab_", 40)} {
		e, err := r.envRef(&berth.Environment{ID: id})
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if id == "env-abc123xyz0" && e.name != id {
			t.Errorf("core's id %q became %q", id, e.name)
		}
		if errs := validation.IsDNS1035Label(e.name); len(errs) > 0 {
			t.Errorf("%q: name %q: %v", id, e.name, errs)
		}
		if prev, dup := seen[e.name]; dup {
			t.Errorf("%q and %q share the name %q", prev, id, e.name)
		}
		seen[e.name] = id
	}
	if _, err := r.envRef(&berth.Environment{}); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("empty id: %v", err)
	}
}
