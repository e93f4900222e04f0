package kube_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// legacyTemplate is the pod template of workloads created without berth.
func legacyTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}
}

func (e *env) createDeployment(t *testing.T, name string, replicas int32, labels map[string]string) {
	t.Helper()
	_, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Template: legacyTemplate(name),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment %s: %v", name, err)
	}
}

func (e *env) createStatefulSet(t *testing.T, name string) {
	t.Helper()
	_, err := e.c.Client.AppsV1().StatefulSets(e.ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Template: legacyTemplate(name),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create statefulset %s: %v", name, err)
	}
}

func (e *env) createPVC(t *testing.T, name string) {
	t.Helper()
	_, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Create(t.Context(), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To("standard"),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pvc %s: %v", name, err)
	}
}

// waitInventory polls Inventory until want accepts it.
func (e *env) waitInventory(t *testing.T, want func(map[string]berth.Resource) error) map[string]berth.Resource {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var byKey map[string]berth.Resource
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		items, err := e.rt.Inventory(ctx)
		if err != nil {
			return err
		}
		byKey = map[string]berth.Resource{}
		for _, it := range items {
			byKey[it.Type+" "+it.Name] = it
		}
		return want(byKey)
	})
	if err != nil {
		t.Fatalf("inventory: %v\n%s", err, inventoryDump(byKey))
	}
	return byKey
}

func inventoryDump(m map[string]berth.Resource) string {
	var lines []string
	for k, r := range m {
		lines = append(lines, fmt.Sprintf("%s: %s managed=%v kind=%s id=%s %v", k, r.Status, r.Managed, r.BerthKind, r.BerthID, r.Details))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// podsOf lists the inventory's pods whose name starts with prefix.
func podsOf(m map[string]berth.Resource, prefix string) []berth.Resource {
	var out []berth.Resource
	for _, r := range m {
		if r.Type == kube.TypePod && strings.HasPrefix(r.Name, prefix+"-") {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b berth.Resource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// TestInventory: every object kind of a watched namespace shows with its
// status, details, and the berth labels of what berth created.
func TestInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := webService(2)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e.createDeployment(t, "legacy", 1, nil)
	// What berth once made for an environment it no longer knows (core decides it is orphaned).
	e.createDeployment(t, "ws", 1, map[string]string{kube.LabelManagedBy: kube.ManagedBy, kube.LabelKind: "environment", kube.LabelID: "env-gone"})
	e.createStatefulSet(t, "db")
	e.createPVC(t, "data")

	inv := e.waitInventory(t, func(m map[string]berth.Resource) error {
		for _, k := range []string{"deployment web", "deployment legacy", "deployment ws", "statefulset db", "k8s-service web", "pvc data", "pod db-0"} {
			if _, ok := m[k]; !ok {
				return fmt.Errorf("no %s", k)
			}
		}
		if got := m["deployment web"].Status; got != "ready 2/2" {
			return fmt.Errorf("deployment web is %q", got)
		}
		if got := m["statefulset db"].Status; got != "ready 1/1" {
			return fmt.Errorf("statefulset db is %q", got)
		}
		web := podsOf(m, "web")
		if len(web) != 2 {
			return fmt.Errorf("%d web pods", len(web))
		}
		for _, p := range web {
			if p.Status != "Running, ready" || p.Details["ip"] == nil {
				return fmt.Errorf("pod %s: %s %v", p.Name, p.Status, p.Details)
			}
		}
		return nil
	})

	nodes, err := e.c.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("list nodes: %v", err)
	}
	for _, tc := range []struct {
		key               string
		managed           bool
		berthKind, berthI string
		details           map[string]any
	}{
		{"deployment web", true, "service", "web", map[string]any{"replicas": 2, "readyReplicas": 2, "owner": "usr-1"}},
		{"k8s-service web", true, "service", "web", map[string]any{"type": "ClusterIP", "ports": []string{"http 8080/TCP"}}},
		{"deployment legacy", false, "", "", map[string]any{"replicas": 1, "images": []string{"busybox:1"}}},
		{"deployment ws", true, "environment", "env-gone", map[string]any{"replicas": 1}},
		{"statefulset db", false, "", "", map[string]any{"replicas": 1, "readyReplicas": 1}},
		{"pvc data", false, "", "", map[string]any{"storageClass": "standard", "requested": "1Gi", "accessModes": []string{"ReadWriteOnce"}}},
		{"pod db-0", false, "", "", map[string]any{"node": nodes.Items[0].Name, "controller": "StatefulSet/db", "ready": true}},
		{"pod " + podsOf(inv, "web")[0].Name, true, "service", "web", map[string]any{"phase": "Running"}},
	} {
		r := inv[tc.key]
		if r.ID != e.ns+"/"+r.Name || r.Namespace != e.ns || r.Target != "k8s" {
			t.Errorf("%s: id %q namespace %q target %q", tc.key, r.ID, r.Namespace, r.Target)
		}
		if r.Managed != tc.managed || r.BerthKind != tc.berthKind || r.BerthID != tc.berthI {
			t.Errorf("%s: managed=%v kind=%q id=%q, want %v %q %q", tc.key, r.Managed, r.BerthKind, r.BerthID, tc.managed, tc.berthKind, tc.berthI)
		}
		for k, want := range tc.details {
			if got := r.Details[k]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: details[%s] = %v, want %v", tc.key, k, got, want)
			}
		}
	}
	// No storage provisioner runs here: the claim waits.
	if got := inv["pvc data"].Status; got != "Pending" {
		t.Errorf("pvc status = %q, want Pending", got)
	}
	if got := inv["k8s-service web"].Details["clusterIP"]; got == nil || got == "" {
		t.Errorf("k8s-service web has no cluster IP: %v", inv["k8s-service web"].Details)
	}
	for k, r := range inv {
		if r.Type == "secret" || r.Type == "configmap" || strings.Contains(k, "kube-root-ca") {
			t.Errorf("inventory lists %s", k)
		}
	}
}

// TestResourceAction: stop and start of a Deployment or StatefulSet scale it
// to 0 and back, remembering the count as StopService does; anything else
// says NOT_SUPPORTED; bad ids are INVALID naming id.
func TestResourceAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createDeployment(t, "legacy", 3, nil)
	e.createStatefulSet(t, "db")
	e.waitState(t, "legacy", running(3))
	e.waitState(t, "db", running(1))
	id := func(name string) string { return e.ns + "/" + name }

	if err := e.rt.ResourceAction(t.Context(), kube.TypeDeployment, id("legacy"), "stop"); err != nil {
		t.Fatalf("stop legacy: %v", err)
	}
	if got := e.kubectl(t, "get", "deployment", "legacy", "-o", `jsonpath={.spec.replicas}/{.metadata.annotations.berth\.dev/replicas-before-stop}`); got != "0/3" {
		t.Errorf("kubectl legacy after stop = %q, want 0/3", got)
	}
	e.waitInventory(t, func(m map[string]berth.Resource) error {
		if r := m["deployment legacy"]; r.Status != "stopped" || r.Details["replicasBeforeStop"] != 3 {
			return fmt.Errorf("legacy is %q %v", r.Status, r.Details)
		}
		if n := len(podsOf(m, "legacy")); n != 0 {
			return fmt.Errorf("%d legacy pods left", n)
		}
		return nil
	})
	if err := e.rt.ResourceAction(t.Context(), kube.TypeDeployment, id("legacy"), "start"); err != nil {
		t.Fatalf("start legacy: %v", err)
	}
	d := e.deployment(t, "legacy")
	if *d.Spec.Replicas != 3 || d.Annotations[kube.AnnotationReplicasBeforeStop] != "" {
		t.Errorf("legacy after start: replicas %d, annotations %v", *d.Spec.Replicas, d.Annotations)
	}
	e.waitState(t, "legacy", running(3))

	if err := e.rt.ResourceAction(t.Context(), kube.TypeStatefulSet, id("db"), "stop"); err != nil {
		t.Fatalf("stop db: %v", err)
	}
	s, err := e.c.Client.AppsV1().StatefulSets(e.ns).Get(t.Context(), "db", metav1.GetOptions{})
	if err != nil || *s.Spec.Replicas != 0 || s.Annotations[kube.AnnotationReplicasBeforeStop] != "1" {
		t.Fatalf("db after stop: %v %+v", err, s)
	}
	if err := e.rt.ResourceAction(t.Context(), kube.TypeStatefulSet, id("db"), "start"); err != nil {
		t.Fatalf("start db: %v", err)
	}
	e.waitState(t, "db", running(1))

	for _, tc := range []struct {
		typ, id, action string
		code            berth.Code
		field           string
	}{
		{kube.TypePod, id("db-0"), "stop", berth.ENOTSUPPORTED, ""},
		{kube.TypePVC, id("data"), "start", berth.ENOTSUPPORTED, ""},
		{kube.TypeKubeService, id("web"), "stop", berth.ENOTSUPPORTED, ""},
		{kube.TypeDeployment, id("db"), "stop", berth.ENOTFOUND, ""}, // a StatefulSet, not a Deployment
		{kube.TypeStatefulSet, id("legacy"), "stop", berth.ENOTFOUND, ""},
		{kube.TypeDeployment, "legacy", "stop", berth.EINVALID, "id"},
		{kube.TypeDeployment, "/legacy", "stop", berth.EINVALID, "id"},
		{kube.TypeDeployment, e.ns + "/", "stop", berth.EINVALID, "id"},
		{kube.TypeDeployment, "kube-system/coredns", "stop", berth.EINVALID, "id"},
		{kube.TypeDeployment, id("a/b"), "stop", berth.EINVALID, "id"},
	} {
		err := e.rt.ResourceAction(t.Context(), tc.typ, tc.id, tc.action)
		if !berth.IsCode(err, tc.code) {
			t.Errorf("%s %s %s: %v, want %s", tc.action, tc.typ, tc.id, err, tc.code)
			continue
		}
		var be *berth.Error
		if tc.field != "" && (!errors.As(err, &be) || be.Field != tc.field) {
			t.Errorf("%s %s %s: %v does not name field %q", tc.action, tc.typ, tc.id, err, tc.field)
		}
	}
	if err := e.rt.DeleteResource(t.Context(), "configmap", id("x")); !berth.IsCode(err, berth.ENOTSUPPORTED) {
		t.Errorf("delete configmap: %v, want NOT_SUPPORTED", err)
	}
	if err := e.rt.DeleteResource(t.Context(), kube.TypePod, "kube-system/x"); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("delete in an unwatched namespace: %v, want INVALID", err)
	}
	// The shadowed object is not touched.
	if got := e.deployment(t, "legacy"); *got.Spec.Replicas != 3 {
		t.Errorf("legacy replicas = %d after refused actions", *got.Spec.Replicas)
	}
}

// TestDeleteResource: a deleted pod is replaced by its controller; the other
// kinds go for good, a berth service's Deployment with its companions.
func TestDeleteResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := webService(1)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e.createDeployment(t, "legacy", 1, nil)
	e.createStatefulSet(t, "db")
	e.createPVC(t, "data")
	e.waitState(t, "web", running(1))
	e.waitState(t, "legacy", running(1))
	e.waitState(t, "db", running(1))
	ctx := t.Context()
	client := e.c.Client
	id := func(name string) string { return e.ns + "/" + name }

	// A pod: its ReplicaSet makes a new one.
	inv := e.waitInventory(t, func(m map[string]berth.Resource) error {
		if n := len(podsOf(m, "legacy")); n != 1 {
			return fmt.Errorf("%d legacy pods", n)
		}
		return nil
	})
	old := podsOf(inv, "legacy")[0]
	if err := e.rt.DeleteResource(ctx, kube.TypePod, old.ID); err != nil {
		t.Fatalf("delete pod %s: %v", old.ID, err)
	}
	e.waitInventory(t, func(m map[string]berth.Resource) error {
		pods := podsOf(m, "legacy")
		if len(pods) != 1 || pods[0].Name == old.Name || pods[0].Status != "Running, ready" {
			return fmt.Errorf("legacy pods %v", pods)
		}
		return nil
	})
	if _, err := client.CoreV1().Pods(e.ns).Get(ctx, old.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("old pod %s: %v, want not found", old.Name, err)
	}

	gone := func(what string, get func() error) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		err := kubetest.Eventually(c, func(context.Context) error {
			if err := get(); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	for _, tc := range []struct {
		typ, name string
		get       func() error
	}{
		{kube.TypePVC, "data", func() error {
			_, err := client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, "data", metav1.GetOptions{})
			return err
		}},
		{kube.TypeStatefulSet, "db", func() error {
			_, err := client.AppsV1().StatefulSets(e.ns).Get(ctx, "db", metav1.GetOptions{})
			return err
		}},
		{kube.TypeDeployment, "legacy", func() error {
			_, err := client.AppsV1().Deployments(e.ns).Get(ctx, "legacy", metav1.GetOptions{})
			return err
		}},
		{kube.TypeKubeService, "web", func() error {
			_, err := client.CoreV1().Services(e.ns).Get(ctx, "web", metav1.GetOptions{})
			return err
		}},
	} {
		if err := e.rt.DeleteResource(ctx, tc.typ, id(tc.name)); err != nil {
			t.Errorf("delete %s %s: %v", tc.typ, tc.name, err)
			continue
		}
		gone(tc.typ+" "+tc.name, tc.get)
		// Deleting what is gone succeeds.
		if err := e.rt.DeleteResource(ctx, tc.typ, id(tc.name)); err != nil {
			t.Errorf("delete %s %s again: %v", tc.typ, tc.name, err)
		}
	}

	// berth's service Deployment goes with its Secret and ConfigMap.
	if err := e.rt.DeleteResource(ctx, kube.TypeDeployment, id("web")); err != nil {
		t.Fatalf("delete deployment web: %v", err)
	}
	gone("deployment web", func() error {
		_, err := client.AppsV1().Deployments(e.ns).Get(ctx, "web", metav1.GetOptions{})
		return err
	})
	gone("secret web-secrets", func() error {
		_, err := client.CoreV1().Secrets(e.ns).Get(ctx, "web-secrets", metav1.GetOptions{})
		return err
	})
	gone("config map web-config", func() error {
		_, err := client.CoreV1().ConfigMaps(e.ns).Get(ctx, "web-config", metav1.GetOptions{})
		return err
	})
	e.waitInventory(t, func(m map[string]berth.Resource) error {
		for k, r := range m {
			if r.Type != kube.TypePod || r.Status != "Terminating" {
				return fmt.Errorf("%s is left", k)
			}
		}
		return nil
	})
}
