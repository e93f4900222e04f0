package kube_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/kube"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func pullSecretNames(refs []corev1.LocalObjectReference) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

// TestPodSettings: workspaceFSGroup becomes the workspace pod's fsGroup
// (OnRootMismatch) and nothing else's; imagePullSecrets go on the pod
// templates of services and workspaces, and on their pods; without them the
// templates have neither. Applying the same spec again starts no rollout.
func TestPodSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, tc := range []struct {
		name    string
		cfg     kube.Config
		fsGroup int64 // 0: no fsGroup
		pull    []string
	}{
		{"fsGroup and pull secrets", kube.Config{WorkspaceFSGroup: 1000, ImagePullSecrets: []string{"regcred", "mirror-creds"}}, 1000, []string{"regcred", "mirror-creds"}},
		{"pull secrets only", kube.Config{ImagePullSecrets: []string{"regcred"}}, 0, []string{"regcred"}},
		{"neither", kube.Config{}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			rt := e.envRuntime(t, tc.cfg)

			env := devEnvironment(fmt.Sprintf("env-podset%04d", i))
			if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
				t.Fatalf("apply environment: %v", err)
			}
			d := e.deployment(t, env.ID)
			sc := d.Spec.Template.Spec.SecurityContext
			if tc.fsGroup != 0 {
				if sc == nil || ptr.Deref(sc.FSGroup, 0) != tc.fsGroup ||
					ptr.Deref(sc.FSGroupChangePolicy, "") != corev1.FSGroupChangeOnRootMismatch {
					t.Errorf("workspace securityContext %+v, want fsGroup %d OnRootMismatch", sc, tc.fsGroup)
				}
			} else if sc != nil && !apiequality.Semantic.DeepEqual(*sc, corev1.PodSecurityContext{}) {
				// The API server defaults a missing one to {}.
				t.Errorf("workspace securityContext %+v, want none", sc)
			}
			if got := pullSecretNames(d.Spec.Template.Spec.ImagePullSecrets); !slices.Equal(got, tc.pull) {
				t.Errorf("workspace imagePullSecrets %v, want %v", got, tc.pull)
			}
			if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
				t.Fatalf("apply environment again: %v", err)
			}
			if got := e.deployment(t, env.ID); got.Generation != d.Generation {
				t.Errorf("re-applying the environment bumped the generation %d → %d", d.Generation, got.Generation)
			}

			svc := webService(1)
			svc.Name, svc.Namespace = fmt.Sprintf("web%d", i), e.ns
			if err := rt.ApplyService(ctx, svc); err != nil {
				t.Fatalf("apply service: %v", err)
			}
			d = e.deployment(t, svc.Name)
			if got := pullSecretNames(d.Spec.Template.Spec.ImagePullSecrets); !slices.Equal(got, tc.pull) {
				t.Errorf("service imagePullSecrets %v, want %v", got, tc.pull)
			}
			if sc := d.Spec.Template.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
				t.Errorf("service got fsGroup %d: it is the workspaces' setting", *sc.FSGroup)
			}
			if err := rt.ApplyService(ctx, svc); err != nil {
				t.Fatalf("apply service again: %v", err)
			}
			if got := e.deployment(t, svc.Name); got.Generation != d.Generation {
				t.Errorf("re-applying the service bumped the generation %d → %d", d.Generation, got.Generation)
			}
			// The pods the controller makes carry them.
			until(t, "service pod", func(ctx context.Context) error {
				l, err := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelID + "=" + svc.Name})
				if err != nil {
					return err
				}
				if len(l.Items) == 0 {
					return berth.Errorf(berth.ENOTFOUND, "no pod yet")
				}
				if got := pullSecretNames(l.Items[0].Spec.ImagePullSecrets); !slices.Equal(got, tc.pull) {
					t.Errorf("pod imagePullSecrets %v, want %v", got, tc.pull)
				}
				return nil
			})
		})
	}
}
