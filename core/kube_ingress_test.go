package core_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/kube"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startCluster starts a control plane of this test's own (core's TestMain
// is pgtest's), stopped when the test ends.
func startCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute) // a cold build takes long
	defer cancel()
	c, err := kubetest.Start(ctx, os.Stderr)
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("no cluster: %v", err)
		}
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestKubernetesIngressOrphans, on a real cluster with a target that sets
// ingressHost: an environment's Ingress is in the inventory as type
// ingress, not orphaned while the environment exists, and deleting it
// directly is CONFLICT; an Ingress labelled as berth's for an environment
// the store does not have is orphaned and orphan cleanup removes it, as it
// removes the Ingress (and the rest) of an environment whose record is
// gone; an Ingress berth did not make is never touched.
func TestKubernetesIngressOrphans(t *testing.T) {
	t.Parallel()
	cluster := startCluster(t)
	ns := cluster.Namespace(t)
	rt, err := kube.New(kube.Config{Target: "k8s", Kubeconfig: cluster.Kubeconfig, Namespaces: []string{ns},
		IngressHost: "{id}.dev.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	st := storetest.Open(t, store.SQLite, nil)
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, DefaultTarget: "k8s",
		OrphanGrace: map[string]time.Duration{"k8s": 0}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := berth.WithActor(t.Context(), berth.Actor{UserID: "usr-admin", Username: "admin", Role: berth.RoleAdmin})

	env, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "ws", Target: "k8s", BaseImage: "node"})
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	ings := cluster.Client.NetworkingV1().Ingresses(ns)
	mine, err := ings.Get(ctx, env.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the environment's ingress: %v", err)
	}
	prefix := networkingv1.PathTypePrefix
	for name, labels := range map[string]map[string]string{
		"ghost":  {kube.LabelManagedBy: kube.ManagedBy, kube.LabelKind: "environment", kube.LabelID: "env-ghost00000000"},
		"theirs": {"app": "theirs"},
	} {
		_, err := ings.Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: name + ".example.test",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create ingress %s: %v", name, err)
		}
	}
	id := func(name string) string { return ns + "/" + name }

	// The inventory, through core: type ingress, orphaned only for the ghost.
	var listed map[string]berth.Resource
	await(ctx, t, "the ingresses in the inventory", func(ctx context.Context) error {
		inv, err := c.Infrastructure(ctx, kube.TypeIngress)
		if err != nil {
			return err
		}
		listed = map[string]berth.Resource{}
		for _, r := range inv.Resources {
			listed[r.ID] = r
		}
		if len(listed) != 3 || inv.Total != 3 {
			return fmt.Errorf("%d ingresses listed: %v", len(listed), listed)
		}
		return nil
	})
	for _, tc := range []struct {
		name              string
		managed, orphaned bool
		kind, berthID     string
	}{
		{env.ID, true, false, "environment", env.ID},
		{"ghost", true, true, "environment", "env-ghost00000000"},
		{"theirs", false, false, "", ""},
	} {
		r, ok := listed[id(tc.name)]
		if !ok || r.Type != kube.TypeIngress || r.Target != "k8s" || r.Managed != tc.managed || r.Orphaned != tc.orphaned ||
			r.BerthKind != tc.kind || r.BerthID != tc.berthID {
			t.Errorf("ingress %s: %+v, want type ingress managed=%v orphaned=%v kind %q id %q", tc.name, r, tc.managed, tc.orphaned, tc.kind, tc.berthID)
		}
	}

	// The environment's Ingress goes with the environment, not on its own.
	err = c.InfraAction(ctx, kube.TypeIngress, id(env.ID), "k8s", "delete")
	if !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("delete the ingress of a live environment: %v, want CONFLICT", err)
	}
	if got, err := ings.Get(ctx, env.ID, metav1.GetOptions{}); err != nil || got.UID != mine.UID || got.DeletionTimestamp != nil {
		t.Fatalf("the environment's ingress after a refused delete: %v %+v", err, got)
	}

	// Cleanup with no grace: the ghost goes; the live environment's and
	// the foreign Ingress stay.
	if err := c.CleanupOrphans(ctx); err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	await(ctx, t, "the orphaned ingress removed", func(ctx context.Context) error {
		return gone(ings.Get(ctx, "ghost", metav1.GetOptions{}))
	})
	for _, name := range []string{env.ID, "theirs"} {
		if _, err := ings.Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("ingress %s after the cleanup: %v", name, err)
		}
	}

	// The environment's record goes behind berth's back: its Ingress, now
	// pointing at nothing berth knows, is an orphan and goes with the rest.
	if err := st.DeleteEnvironment(ctx, env.ID); err != nil {
		t.Fatal(err)
	}
	await(ctx, t, "the environment's objects removed", func(ctx context.Context) error {
		if err := c.CleanupOrphans(ctx); err != nil {
			return err
		}
		if err := gone(ings.Get(ctx, env.ID, metav1.GetOptions{})); err != nil {
			return err
		}
		if err := gone(cluster.Client.AppsV1().Deployments(ns).Get(ctx, env.ID, metav1.GetOptions{})); err != nil {
			return err
		}
		return gone(cluster.Client.CoreV1().Services(ns).Get(ctx, env.ID, metav1.GetOptions{}))
	})
	if got, err := ings.Get(ctx, "theirs", metav1.GetOptions{}); err != nil || got.DeletionTimestamp != nil {
		t.Errorf("the foreign ingress after the cleanups: %v %+v", err, got)
	}
}

// gone accepts only a NotFound answer of a Get.
func gone[T metav1.Object](obj T, err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s still there", obj.GetName())
}

// await polls check for up to a minute.
func await(ctx context.Context, t *testing.T, what string, check func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := kubetest.Eventually(ctx, check); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
