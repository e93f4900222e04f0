package kube_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/kube"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func (e *env) ingress(t *testing.T, name string) *networkingv1.Ingress {
	t.Helper()
	ing, err := e.c.Client.NetworkingV1().Ingresses(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get ingress %s: %v", name, err)
	}
	return ing
}

func (e *env) ingressGone(ctx context.Context, name string) error {
	_, err := e.c.Client.NetworkingV1().Ingresses(e.ns).Get(ctx, name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("ingress %s still there (%v)", name, err)
	}
	return nil
}

// TestEnvironmentIngress: with ingressHost, an environment gets an Ingress
// (berth's labels, the host, "/" → its Service's port "ide", the class and
// TLS Secret of the target); its URL is that host unless urlTemplate says
// otherwise; the Ingress is not rewritten by a second apply, stays through
// stop and start, and goes with delete, keepVolume or not (the claim stays).
func TestEnvironmentIngress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, tc := range []struct {
		name       string
		cfg        kube.Config
		host, url  string // {id} and {namespace} are filled in
		class, tls string
		keepVolume bool
	}{
		{name: "class and tls", cfg: kube.Config{IngressHost: "{id}.dev.example.test", IngressClassName: "nginx", IngressTLSSecret: "dev-tls"},
			host: "{id}.dev.example.test", url: "https://{id}.dev.example.test", class: "nginx", tls: "dev-tls"},
		{name: "plain http", cfg: kube.Config{IngressHost: "{name}.{namespace}.example.test"},
			host: "{id}.{namespace}.example.test", url: "http://{id}.{namespace}.example.test"},
		{name: "urlTemplate wins, keepVolume", cfg: kube.Config{IngressHost: "{id}.dev.example.test", URLTemplate: "https://ide.example.test/{id}"},
			host: "{id}.dev.example.test", url: "https://ide.example.test/{id}", keepVolume: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			env := devEnvironment(fmt.Sprintf("env-ingress%03d", i))
			fill := strings.NewReplacer("{id}", env.ID, "{namespace}", e.ns).Replace
			rt := e.envRuntime(t, tc.cfg)

			st, err := rt.ApplyEnvironment(ctx, env)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if st.URL != fill(tc.url) {
				t.Errorf("URL %q, want %q", st.URL, fill(tc.url))
			}
			ing := e.ingress(t, env.ID)
			wantLabels := map[string]string{kube.LabelManagedBy: "berth", kube.LabelKind: "environment", kube.LabelID: env.ID, kube.LabelOwner: "usr-1"}
			if !maps.Equal(ing.Labels, wantLabels) {
				t.Errorf("labels %v, want %v", ing.Labels, wantLabels)
			}
			if got := ptr.Deref(ing.Spec.IngressClassName, ""); got != tc.class {
				t.Errorf("class %q, want %q", got, tc.class)
			}
			if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil || len(ing.Spec.Rules[0].HTTP.Paths) != 1 {
				t.Fatalf("rules %+v, want one rule with one path", ing.Spec.Rules)
			}
			rule, path := ing.Spec.Rules[0], ing.Spec.Rules[0].HTTP.Paths[0]
			if rule.Host != fill(tc.host) || path.Path != "/" || ptr.Deref(path.PathType, "") != networkingv1.PathTypePrefix {
				t.Errorf("rule %s %s (%v), want %s / Prefix", rule.Host, path.Path, path.PathType, fill(tc.host))
			}
			if b := path.Backend.Service; b == nil || b.Name != env.ID || b.Port.Name != "ide" || b.Port.Number != 0 {
				t.Errorf("backend %+v, want service %s port ide", path.Backend, env.ID)
			}
			switch {
			case tc.tls == "" && len(ing.Spec.TLS) != 0:
				t.Errorf("tls %+v, want none", ing.Spec.TLS)
			case tc.tls != "" && (len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != tc.tls ||
				len(ing.Spec.TLS[0].Hosts) != 1 || ing.Spec.TLS[0].Hosts[0] != fill(tc.host)):
				t.Errorf("tls %+v, want secret %s for %s", ing.Spec.TLS, tc.tls, fill(tc.host))
			}
			if st, err := rt.EnvironmentState(ctx, env); err != nil || st.URL != fill(tc.url) {
				t.Errorf("state %+v %v, want URL %s", st, err, fill(tc.url))
			}

			// Nothing changed: nothing written.
			if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
				t.Fatalf("apply again: %v", err)
			}
			if got := e.ingress(t, env.ID); got.ResourceVersion != ing.ResourceVersion {
				t.Errorf("a second apply rewrote the ingress (%s → %s)", ing.ResourceVersion, got.ResourceVersion)
			}
			// Stop and start keep the same Ingress.
			if err := rt.StopEnvironment(ctx, env); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if got := e.ingress(t, env.ID); got.UID != ing.UID {
				t.Errorf("stop replaced the ingress")
			}
			if err := rt.StartEnvironment(ctx, env); err != nil {
				t.Fatalf("start: %v", err)
			}
			if got := e.ingress(t, env.ID); got.UID != ing.UID {
				t.Errorf("start replaced the ingress")
			}

			pvc, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, env.ID, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.DeleteEnvironment(ctx, env, tc.keepVolume); err != nil {
				t.Fatalf("delete: %v", err)
			}
			until(t, "ingress deleted", func(ctx context.Context) error { return e.ingressGone(ctx, env.ID) })
			until(t, "workload deleted", func(ctx context.Context) error { return e.gone(ctx, env.ID, !tc.keepVolume) })
			if tc.keepVolume {
				e.sameClaim(t, pvc)
			}
		})
	}
}

// TestEnvironmentIngressDrift: an Ingress edited behind berth's back is put
// back by the next apply, except the class that the cluster's
// DefaultIngressClass admission fills in when the target names none.
func TestEnvironmentIngressDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{IngressHost: "{id}.dev.example.test"})
	env := devEnvironment("env-drift00001")
	ctx := t.Context()
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply: %v", err)
	}
	ings := e.c.Client.NetworkingV1().Ingresses(e.ns)

	// What the admission plugin does at create.
	ing := e.ingress(t, env.ID)
	ing.Spec.IngressClassName = ptr.To("cluster-default")
	ing, err := ings.Update(ctx, ing, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := e.ingress(t, env.ID); got.ResourceVersion != ing.ResourceVersion || ptr.Deref(got.Spec.IngressClassName, "") != "cluster-default" {
		t.Errorf("apply touched the default class: %v (version %s → %s)", got.Spec.IngressClassName, ing.ResourceVersion, got.ResourceVersion)
	}

	// Somebody points it elsewhere and drops a label.
	ing = e.ingress(t, env.ID)
	ing.Spec.Rules[0].Host = "elsewhere.example.test"
	ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "other"
	delete(ing.Labels, kube.LabelOwner)
	if _, err := ings.Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply: %v", err)
	}
	got := e.ingress(t, env.ID)
	if r := got.Spec.Rules[0]; r.Host != env.ID+".dev.example.test" || r.HTTP.Paths[0].Backend.Service.Name != env.ID || got.Labels[kube.LabelOwner] != "usr-1" {
		t.Errorf("after apply: host %s backend %s labels %v, want berth's again", r.Host, r.HTTP.Paths[0].Backend.Service.Name, got.Labels)
	}
}

// TestEnvironmentIngressConflict: an Ingress of the environment's name that
// berth did not make refuses the create before anything is written, and
// delete leaves it alone.
func TestEnvironmentIngressConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	name := "env-foreign0001"
	prefix := networkingv1.PathTypePrefix
	foreign, err := e.c.Client.NetworkingV1().Ingresses(e.ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "theirs"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "theirs.example.test",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "theirs", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt := e.envRuntime(t, kube.Config{IngressHost: "{id}.dev.example.test"})
	env := devEnvironment(name)
	_, err = rt.ApplyEnvironment(ctx, env)
	if !berth.IsCode(err, berth.ECONFLICT) || !strings.Contains(err.Error(), "ingress") {
		t.Fatalf("apply over a foreign ingress: %v, want CONFLICT naming the ingress", err)
	}
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a deployment was written: %v", err)
	}
	if _, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a claim was written: %v", err)
	}
	if err := rt.DeleteEnvironment(ctx, env, false); err != nil {
		t.Errorf("delete: %v", err)
	}
	if got := e.ingress(t, name); got.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("the foreign ingress was changed: %+v", got)
	}
}

// TestEnvironmentWithoutIngress: a target without ingressHost makes no
// Ingress and sends no request to the Ingress API (the RBAC of installs
// from before ingresses existed has no rule for them).
func TestEnvironmentWithoutIngress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var calls atomic.Int32
	rc := rest.CopyConfig(e.c.Config)
	rc.Wrap(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if strings.HasPrefix(req.URL.Path, "/apis/networking.k8s.io/") {
				calls.Add(1)
			}
			return next.RoundTrip(req)
		})
	})
	rt, err := kube.New(kube.Config{Target: "k8s", Rest: rc, Namespaces: []string{e.ns}})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	env := devEnvironment("env-noingress01")
	ctx := t.Context()
	st, err := rt.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if want := "http://" + env.ID + "." + e.ns + ".svc:8080"; st.URL != want {
		t.Errorf("URL %q, want %q", st.URL, want)
	}
	if err := rt.StopEnvironment(ctx, env); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := rt.StartEnvironment(ctx, env); err != nil {
		t.Errorf("start: %v", err)
	}
	if err := rt.DeleteEnvironment(ctx, env, false); err != nil {
		t.Errorf("delete: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests to the networking API", n)
	}
	l, err := e.c.Client.NetworkingV1().Ingresses(e.ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 0 {
		t.Errorf("ingresses in the namespace: %v %v", l, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestExtrasConfigInvalid: settings that cannot work are refused by New,
// naming the field, without a cluster; an environment id that makes an
// invalid host is INVALID before any request (the server here answers none).
func TestExtrasConfigInvalid(t *testing.T) {
	t.Parallel()
	nowhere := &rest.Config{Host: "https://127.0.0.1:1"}
	for _, tc := range []struct {
		cfg   kube.Config
		field string // "" when valid
	}{
		{kube.Config{IngressHost: "dev.example.test"}, "ingressHost"}, // one host for every environment
		{kube.Config{IngressHost: "{id}.Dev.example.test"}, "ingressHost"},
		{kube.Config{IngressHost: "https://{id}.dev.example.test"}, "ingressHost"},
		{kube.Config{IngressHost: "{id}_ide.example.test"}, "ingressHost"},
		{kube.Config{IngressHost: "*.{id}.example.test"}, "ingressHost"},
		{kube.Config{IngressHost: "{id}.{port}.example.test"}, "ingressHost"},
		{kube.Config{IngressHost: "{id}." + strings.Repeat("a.", 130) + "test"}, "ingressHost"},
		{kube.Config{IngressTLSSecret: "dev-tls"}, "ingressTLSSecret"},
		{kube.Config{IngressClassName: "nginx"}, "ingressClassName"},
		{kube.Config{IngressHost: "{id}.dev.example.test", IngressClassName: "Nginx_Public"}, "ingressClassName"},
		{kube.Config{IngressHost: "{id}.dev.example.test", IngressTLSSecret: "TLS"}, "ingressTLSSecret"},
		{kube.Config{WorkspaceFSGroup: -1}, "workspaceFSGroup"},
		{kube.Config{ImagePullSecrets: []string{"Registry"}}, "imagePullSecrets"},
		{kube.Config{ImagePullSecrets: []string{""}}, "imagePullSecrets"},
		{kube.Config{ImagePullSecrets: []string{"regcred", "regcred"}}, "imagePullSecrets"},
		{kube.Config{IngressHost: "{id}.{namespace}.dev.example.test", IngressClassName: "nginx", IngressTLSSecret: "dev-tls",
			WorkspaceFSGroup: 1000, ImagePullSecrets: []string{"regcred", "mirror"}}, ""},
	} {
		tc.cfg.Target, tc.cfg.Rest = "k8s", nowhere
		_, err := kube.New(tc.cfg)
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.field)
		}
	}

	rt, err := kube.New(kube.Config{Target: "k8s", Rest: nowhere, IngressHost: "{id}.dev.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rt.ApplyEnvironment(t.Context(), &berth.Environment{ID: "Env_Upper"})
	if !berth.IsCode(err, berth.EINVALID) || !strings.Contains(err.Error(), "ingressHost") {
		t.Errorf("apply with an id that makes no host: %v, want INVALID naming ingressHost", err)
	}
}

// TestIngressInventory: a target with ingressHost lists the Ingresses of
// its namespaces as type ingress: berth's with its labels, each with a
// status from its backends (a missing Service says so) and the address its
// controller published; delete removes one, start and stop are
// NOT_SUPPORTED; a target without ingressHost supports none of it.
func TestIngressInventory(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	rt := e.envRuntime(t, kube.Config{IngressHost: "{id}.dev.example.test", IngressClassName: "nginx", IngressTLSSecret: "dev-tls"})
	ie := &env{c: e.c, ns: e.ns, rt: rt}
	env := devEnvironment("env-inv0000001")
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply: %v", err)
	}
	ings := e.c.Client.NetworkingV1().Ingresses(e.ns)
	prefix := networkingv1.PathTypePrefix
	if _, err := ings.Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Labels: map[string]string{"app": "theirs"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "theirs.example.test",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "nowhere", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	inv := ie.waitInventory(t, func(m map[string]berth.Resource) error {
		for _, k := range []string{"ingress " + env.ID, "ingress theirs"} {
			if _, ok := m[k]; !ok {
				return fmt.Errorf("no %s", k)
			}
		}
		return nil
	})
	for _, tc := range []struct {
		key, status       string
		managed           bool
		berthKind, berthI string
		details           map[string]any
	}{
		{"ingress " + env.ID, "pending", true, "environment", env.ID, map[string]any{
			"hosts": []string{env.ID + ".dev.example.test"}, "backends": []string{env.ID + ":ide"}, "tlsSecrets": []string{"dev-tls"},
			"ingressClassName": "nginx", "owner": "usr-1", "missingBackends": nil, "loadBalancer": nil}},
		{"ingress theirs", "no service nowhere", false, "", "", map[string]any{
			"hosts": []string{"theirs.example.test"}, "backends": []string{"nowhere:80"}, "missingBackends": []string{"nowhere"}, "owner": nil}},
	} {
		r := inv[tc.key]
		if r.Type != kube.TypeIngress || r.ID != e.ns+"/"+r.Name || r.Namespace != e.ns || r.Target != "k8s" {
			t.Errorf("%s: type %q id %q namespace %q target %q", tc.key, r.Type, r.ID, r.Namespace, r.Target)
		}
		if r.Status != tc.status || r.Managed != tc.managed || r.BerthKind != tc.berthKind || r.BerthID != tc.berthI {
			t.Errorf("%s: %q managed=%v kind=%q id=%q, want %q %v %q %q", tc.key, r.Status, r.Managed, r.BerthKind, r.BerthID,
				tc.status, tc.managed, tc.berthKind, tc.berthI)
		}
		for k, want := range tc.details { // nil: not there
			got, ok := r.Details[k]
			if (want == nil && ok) || (want != nil && fmt.Sprint(got) != fmt.Sprint(want)) {
				t.Errorf("%s: details[%s] = %v, want %v", tc.key, k, got, want)
			}
		}
	}

	// The controller publishes an address; the missing Service appears.
	ing := e.ingress(t, env.ID)
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.7"}}
	if _, err := ings.UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Client.CoreV1().Services(e.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "nowhere"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ie.waitInventory(t, func(m map[string]berth.Resource) error {
		if r := m["ingress "+env.ID]; r.Status != "ready" || fmt.Sprint(r.Details["loadBalancer"]) != "[192.0.2.7]" {
			return fmt.Errorf("%s is %q %v", env.ID, r.Status, r.Details)
		}
		if r := m["ingress theirs"]; r.Status != "pending" || r.Details["missingBackends"] != nil {
			return fmt.Errorf("theirs is %q %v", r.Status, r.Details)
		}
		return nil
	})

	for _, action := range []string{"start", "stop"} {
		if err := rt.ResourceAction(ctx, kube.TypeIngress, e.ns+"/theirs", action); !berth.IsCode(err, berth.ENOTSUPPORTED) {
			t.Errorf("%s ingress: %v, want NOT_SUPPORTED", action, err)
		}
	}
	// Without ingressHost: not listed, not deleted, and no request made.
	if err := e.rt.DeleteResource(ctx, kube.TypeIngress, e.ns+"/theirs"); !berth.IsCode(err, berth.ENOTSUPPORTED) {
		t.Errorf("delete ingress on a target without ingressHost: %v, want NOT_SUPPORTED", err)
	}
	plain := e.waitInventory(t, func(m map[string]berth.Resource) error {
		if _, ok := m["deployment "+env.ID]; !ok {
			return fmt.Errorf("no deployment %s", env.ID)
		}
		return nil
	})
	for k, r := range plain {
		if r.Type == kube.TypeIngress {
			t.Errorf("a target without ingressHost lists %s", k)
		}
	}
	e.ingress(t, "theirs")

	if err := rt.DeleteResource(ctx, kube.TypeIngress, e.ns+"/theirs"); err != nil {
		t.Fatalf("delete ingress: %v", err)
	}
	until(t, "ingress theirs deleted", func(ctx context.Context) error { return e.ingressGone(ctx, "theirs") })
	if err := rt.DeleteResource(ctx, kube.TypeIngress, e.ns+"/theirs"); err != nil {
		t.Errorf("delete a deleted ingress: %v", err)
	}
	ie.waitInventory(t, func(m map[string]berth.Resource) error {
		if _, ok := m["ingress theirs"]; ok {
			return errors.New("ingress theirs still listed")
		}
		return nil
	})
	if got := e.ingress(t, env.ID); got.UID != ing.UID {
		t.Errorf("the environment's ingress was replaced")
	}
}

// TestIngressInformer: only a target with ingressHost lists and watches
// Ingresses; one without sends no request to the networking API, whatever
// it reads (an install whose role has no ingress rule keeps working).
func TestIngressInformer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	counted := func(cfg kube.Config) (*kube.Runtime, func() []string) {
		var mu sync.Mutex
		var reqs []string
		rc := rest.CopyConfig(e.c.Config)
		rc.Wrap(func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if strings.HasPrefix(req.URL.Path, "/apis/networking.k8s.io/") {
					verb := "list"
					if req.URL.Query().Get("watch") == "true" {
						verb = "watch"
					}
					mu.Lock()
					reqs = append(reqs, req.Method+" "+verb+" "+req.URL.Path)
					mu.Unlock()
				}
				return next.RoundTrip(req)
			})
		})
		cfg.Target, cfg.Rest, cfg.Namespaces = "k8s", rc, []string{e.ns}
		rt, err := kube.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rt.Start(ctx)
		return rt, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(reqs) }
	}
	with, withReqs := counted(kube.Config{IngressHost: "{id}.dev.example.test"})
	without, withoutReqs := counted(kube.Config{})
	e.createDeployment(t, "legacy", 1, nil)

	path := "/apis/networking.k8s.io/v1/namespaces/" + e.ns + "/ingresses"
	if _, err := with.Inventory(ctx); err != nil {
		t.Fatalf("inventory with ingressHost: %v", err)
	}
	until(t, "the ingress informer lists and watches", func(context.Context) error {
		reqs := withReqs()
		if !slices.Contains(reqs, "GET list "+path) || !slices.Contains(reqs, "GET watch "+path) {
			return fmt.Errorf("requests %v", reqs)
		}
		return nil
	})
	// By now the other runtime's informers have listed and watched too.
	if _, err := without.Inventory(ctx); err != nil {
		t.Fatalf("inventory without ingressHost: %v", err)
	}
	if _, err := without.ListServices(ctx); err != nil {
		t.Fatalf("list services without ingressHost: %v", err)
	}
	ie := &env{c: e.c, ns: e.ns, rt: without}
	ie.waitInventory(t, func(m map[string]berth.Resource) error {
		if _, ok := m["deployment legacy"]; !ok {
			return errors.New("no deployment legacy")
		}
		return nil
	})
	if reqs := withoutReqs(); len(reqs) != 0 {
		t.Errorf("a target without ingressHost called the networking API: %v", reqs)
	}
}
