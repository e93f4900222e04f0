package kube_test

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/kube"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// rbacManifest is the documented least-privilege role (docs/kubernetes.md).
func rbacManifest(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "deploy", "kubernetes", "rbac.yaml")
}

// asServiceAccount is a runtime that talks to the cluster with the token of
// a ServiceAccount, not as cluster admin.
// cfg holds the target's settings; its connection fields are set here.
func asServiceAccount(t *testing.T, c *kubetest.Cluster, ns, sa string, cfg kube.Config) *kube.Runtime {
	t.Helper()
	token := strings.TrimSpace(c.Kubectl(t, "-n", ns, "create", "token", sa, "--duration=1h"))
	cfg.Target = "k8s"
	cfg.Rest = &rest.Config{Host: c.Config.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData, CAFile: c.Config.CAFile}}
	rt, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	return rt
}

// TestRBAC runs every runtime operation as a ServiceAccount bound, in one
// namespace only, to the ClusterRole of deploy/kubernetes/rbac.yaml: a verb
// the code needs and the manifest lacks fails here ("not allowed").
func TestRBAC(t *testing.T) {
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	c.Kubectl(t, "apply", "-f", rbacManifest(t))
	c.Kubectl(t, "-n", ns, "create", "serviceaccount", "berth-ns")
	c.Kubectl(t, "-n", ns, "create", "rolebinding", "berth", "--clusterrole=berth", "--serviceaccount="+ns+":berth-ns")
	review, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "system:serviceaccount:" + ns + ":berth-ns",
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "deployments"}}},
		metav1.CreateOptions{})
	if err != nil || review.Status.Allowed {
		t.Fatalf("the namespaced account may list deployments everywhere (%v): the test would prove nothing", err)
	}
	// ingressHost: environments get an Ingress, so its permissions are exercised too.
	rt := asServiceAccount(t, c, ns, "berth-ns", kube.Config{Namespaces: []string{ns}, IngressHost: "{id}.rbac.example.test",
		IngressTLSSecret: "wildcard-tls", ImagePullSecrets: []string{"registry-creds"}, WorkspaceFSGroup: 1000})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil && (strings.Contains(err.Error(), "not allowed") || strings.Contains(err.Error(), "forbidden")) {
			t.Errorf("%s: %v", what, err)
		}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	ref := berth.ServiceRef{Target: "k8s", Namespace: ns, Name: "web"}
	svc := &berth.Service{Name: "web", Target: "k8s", Namespace: ns, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{
		Namespace: ns, Image: "nginx:1.27", Secrets: map[string]string{"TOKEN": "x"}, Ports: []berth.Port{{Name: "http", Port: 80}},
		Config: berth.Config{Files: map[string]string{"a.conf": "a"}}}}
	must("apply service", rt.ApplyService(ctx, svc))
	must("scale", rt.ScaleService(ctx, ref, 2))
	must("stop", rt.StopService(ctx, ref))
	must("start", rt.StartService(ctx, ref))
	must("restart", rt.RestartService(ctx, ref))
	svc.Revision, svc.Spec.Image = 2, "nginx:1.28"
	must("update service", rt.ApplyService(ctx, svc))
	// Restart and update made revisions 2 and 3: wait for the controller to
	// number them before rolling back, as kubectl rollout undo would.
	must("wait for revisions", kubetest.Eventually(ctx, func(ctx context.Context) error {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		revs, err := rt.ServiceRevisions(ctx, ref)
		if err == nil && (len(revs) < 3 || d.Annotations["deployment.kubernetes.io/revision"] != "3") {
			err = berth.Errorf(berth.ENOTFOUND, "%d revisions, deployment at %q", len(revs), d.Annotations["deployment.kubernetes.io/revision"])
		}
		return err
	}))
	must("rollback", rt.RollbackService(ctx, ref, 0))
	_, err = rt.ServiceEvents(ctx, ref, 10)
	must("events", err)
	_, err = rt.ListServices(ctx)
	must("list services", err)
	err = rt.ServiceLogs(ctx, ref, berth.LogOptions{Tail: 5}, func(berth.LogLine) error { return nil })
	allowed("logs", err)
	items, err := rt.Inventory(ctx)
	must("inventory", err)
	for _, it := range items {
		if it.Type == "pod" {
			must("delete pod", rt.DeleteResource(ctx, "pod", it.ID))
			break
		}
	}
	must("stop deployment from the inventory", rt.ResourceAction(ctx, "deployment", ns+"/web", "stop"))
	must("start deployment from the inventory", rt.ResourceAction(ctx, "deployment", ns+"/web", "start"))

	env := &berth.Environment{ID: "env-rbac1", UserID: "usr-1", Name: "RBAC env", CPUCores: 1, MemoryGB: 1, StorageGB: 1,
		BaseImage: "node", Secrets: berth.EnvSecrets{CodeServerPassword: "pw-rbac"}}
	_, err = rt.ApplyEnvironment(ctx, env)
	must("apply environment", err)
	// Someone edits the Ingress: applying again writes it back (update).
	ing, err := c.Client.NetworkingV1().Ingresses(ns).Get(ctx, env.ID, metav1.GetOptions{})
	must("read the environment's ingress", err)
	ing.Spec.Rules[0].Host = "elsewhere.example.test"
	_, err = c.Client.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{})
	must("edit the ingress", err)
	_, err = rt.ApplyEnvironment(ctx, env)
	must("apply environment again", err)
	// The inventory lists it (list, watch) and deletes it; start makes it again.
	must("the ingress in the inventory", kubetest.Eventually(ctx, func(ctx context.Context) error {
		items, err := rt.Inventory(ctx)
		if err == nil && !slices.ContainsFunc(items, func(it berth.Resource) bool { return it.Type == kube.TypeIngress && it.Name == env.ID }) {
			err = berth.Errorf(berth.ENOTFOUND, "no ingress %s in the inventory", env.ID)
		}
		return err
	}))
	must("delete ingress from the inventory", rt.DeleteResource(ctx, kube.TypeIngress, ns+"/"+env.ID))
	must("stop environment", rt.StopEnvironment(ctx, env))
	must("start environment", rt.StartEnvironment(ctx, env))
	_, err = c.Client.NetworkingV1().Ingresses(ns).Get(ctx, env.ID, metav1.GetOptions{})
	must("the ingress made again by start", err)
	_, err = rt.EnvironmentState(ctx, env)
	must("environment state", err)
	must("delete environment", rt.DeleteEnvironment(ctx, env, false))
	if _, err := c.Client.NetworkingV1().Ingresses(ns).Get(ctx, env.ID, metav1.GetOptions{}); err == nil {
		t.Error("the ingress is still there after delete")
	}
	// keepVolume marks the claim it keeps.
	kept := &berth.Environment{ID: "env-rbac2", UserID: "usr-1", StorageGB: 1}
	_, err = rt.ApplyEnvironment(ctx, kept)
	must("apply environment", err)
	must("delete environment keeping its volume", rt.DeleteEnvironment(ctx, kept, true))
	must("delete service", rt.DeleteService(ctx, ref))
	if _, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Error("the deployment is still there after delete")
	}

	// A role from before Ingresses were listed (no networking.k8s.io rule at
	// all) still runs a target without ingressHost; with ingressHost its
	// reads say what the role lacks.
	role, err := c.Client.RbacV1().ClusterRoles().Get(ctx, "berth", metav1.GetOptions{})
	must("read the cluster role", err)
	old := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "berth-old"}}
	for _, r := range role.Rules {
		if !slices.Contains(r.APIGroups, "networking.k8s.io") {
			old.Rules = append(old.Rules, r)
		}
	}
	_, err = c.Client.RbacV1().Roles(ns).Create(ctx, old, metav1.CreateOptions{})
	must("create the old role", err)
	c.Kubectl(t, "-n", ns, "create", "serviceaccount", "berth-old")
	c.Kubectl(t, "-n", ns, "create", "rolebinding", "berth-old", "--role=berth-old", "--serviceaccount="+ns+":berth-old")
	plain := asServiceAccount(t, c, ns, "berth-old", kube.Config{Namespaces: []string{ns}})
	_, err = plain.Inventory(ctx)
	must("inventory under the old role", err)
	_, err = plain.ListServices(ctx)
	must("list services under the old role", err)
	withIngress := asServiceAccount(t, c, ns, "berth-old", kube.Config{Namespaces: []string{ns}, IngressHost: "{id}.rbac.example.test",
		SyncTimeout: 2 * time.Second})
	if _, err := withIngress.Inventory(ctx); err == nil || !strings.Contains(err.Error(), `"ingresses"`) || !strings.Contains(err.Error(), "rbac.yaml") {
		t.Errorf("inventory with ingressHost under a role without ingress list/watch: %v, want an error naming ingresses and the manifest", err)
	}

	// Watching every namespace needs the ClusterRoleBinding of the manifest.
	all := asServiceAccount(t, c, "berth-system", "berth", kube.Config{})
	_, err = all.ListServices(ctx)
	must("list services in every namespace", err)
	_, err = all.Inventory(ctx)
	must("inventory of every namespace", err)
}
