package kube_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/kube"
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
