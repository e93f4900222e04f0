package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestKubernetesDev8Flow: the Dev8 flow (create, get, list, activity, stop,
// start, delete) with cloudProvider KUBERNETES against a real control plane
// (kwok nodes). Each step is checked on the cluster with client-go: the
// Deployment, claim, Secret and Service, replicas 0 and 1 around the same
// claim, and nothing left after delete.
func TestKubernetesDev8Flow(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // a cold build takes long
	defer cancel()
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)
	client := cluster.Client

	// No provisioner runs here: a volume of the target's storage class
	// waits for the environment's claim.
	const class = "e2e-manual"
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-" + ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/e2e-" + ns}},
		},
	}
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	b := startBerthWith(t, fmt.Sprintf(`targets:
  - name: local
    type: local
  - name: k8s
    type: kubernetes
    kubeconfig: %s
    namespaces: [%s]
    storageClass: %s
    urlTemplate: "https://{id}.dev.example.test/?ns={namespace}"
`, cluster.Kubeconfig, ns, class))

	var claimUID types.UID
	claim := func(id string) *corev1.PersistentVolumeClaim {
		t.Helper()
		c, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, id, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("claim %s: %v", id, err)
		}
		if claimUID != "" && c.UID != claimUID {
			t.Errorf("claim %s was replaced: uid %s → %s", id, claimUID, c.UID)
		}
		return c
	}
	replicas := func(id string) int32 {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, id, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("deployment %s: %v", id, err)
		}
		return *d.Spec.Replicas
	}
	pods := func(id string) []corev1.Pod {
		l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "berth.dev/id=" + id})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}

	dev8Flow(t, b, dev8Target{
		provider: "KUBERNETES",
		running: func(t *testing.T, id, url string) {
			if want := "https://" + id + ".dev.example.test/?ns=" + ns; url != want {
				t.Errorf("vsCodeUrl = %q, want %q", url, want)
			}
			d, err := client.AppsV1().Deployments(ns).Get(ctx, id, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("deployment: %v", err)
			}
			if d.Labels["app.kubernetes.io/managed-by"] != "berth" || d.Labels["berth.dev/kind"] != "environment" ||
				d.Labels["berth.dev/id"] != id || d.Labels["berth.dev/owner"] == "" || *d.Spec.Replicas != 1 {
				t.Errorf("deployment labels %v replicas %d", d.Labels, *d.Spec.Replicas)
			}
			raw, _ := json.Marshal(d)
			assertNoSecrets(t, "the Deployment", string(raw))
			sec, err := client.CoreV1().Secrets(ns).Get(ctx, id+"-secrets", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("secret: %v", err)
			}
			if string(sec.Data["GITHUB_TOKEN"]) != dev8Secrets["githubToken"] || string(sec.Data["PASSWORD"]) != dev8Secrets["codeServerPassword"] {
				t.Errorf("secret %s lacks the environment's credentials (keys %d)", sec.Name, len(sec.Data))
			}
			c := claim(id)
			claimUID = c.UID
			if c.Status.Phase != corev1.ClaimBound || c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != class {
				t.Errorf("claim %s: phase %s class %v", id, c.Status.Phase, c.Spec.StorageClassName)
			}
			svc, err := client.CoreV1().Services(ns).Get(ctx, id, metav1.GetOptions{})
			if err != nil || svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Ports[0].Port != 8080 {
				t.Errorf("service: %v %+v", err, svc)
			}
		},
		stopped: func(t *testing.T, id string) {
			if r := replicas(id); r != 0 {
				t.Errorf("replicas after stop = %d", r)
			}
			Eventually(t, 60*time.Second, "workspace pod gone", func() (bool, string) {
				p := pods(id)
				return len(p) == 0, fmt.Sprintf("%d pods", len(p))
			})
			Eventually(t, 30*time.Second, "berth sees STOPPED", func() (bool, string) {
				s := str(b.MustDo(200, "GET", "/api/v1/environments/"+id, nil), "environment", "status")
				return s == "STOPPED", s
			})
			claim(id)
		},
		restarted: func(t *testing.T, id, url string) {
			if r := replicas(id); r != 1 {
				t.Errorf("replicas after start = %d", r)
			}
			p := pods(id)
			if len(p) != 1 {
				t.Fatalf("%d pods after start, want 1", len(p))
			}
			if v := p[0].Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != id {
				t.Errorf("pod volumes %+v, want claim %s", v, id)
			}
			claim(id)
		},
		deleted: func(t *testing.T, id string) {
			Eventually(t, 60*time.Second, "every object of "+id+" deleted", func() (bool, string) {
				var left []string
				check := func(what string, err error) {
					if !apierrors.IsNotFound(err) {
						left = append(left, what)
					}
				}
				_, err := client.AppsV1().Deployments(ns).Get(ctx, id, metav1.GetOptions{})
				check("deployment", err)
				_, err = client.CoreV1().Services(ns).Get(ctx, id, metav1.GetOptions{})
				check("service", err)
				_, err = client.CoreV1().Secrets(ns).Get(ctx, id+"-secrets", metav1.GetOptions{})
				check("secret", err)
				_, err = client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, id, metav1.GetOptions{})
				check("claim", err)
				if len(pods(id)) > 0 {
					left = append(left, "pods")
				}
				return len(left) == 0, strings.Join(left, ", ") + " left"
			})
		},
	})
}
