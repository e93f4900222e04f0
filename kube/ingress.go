package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// With IngressHost set, an environment also has an Ingress of the same name
// as its Service: one rule, host → "/" → the Service's IDE port. It stays
// across stop/start (the pod behind it comes back) and goes with delete,
// keepVolume or not. Without IngressHost berth never calls the Ingress API,
// so installs whose role has no ingress permissions keep working. With it,
// an informer watches the Ingresses of the watched namespaces: the
// inventory lists them (type "ingress") so that core sees, and orphan
// cleanup removes, the Ingress of an environment whose record is gone.

// sampleEnvID fills host templates at validation: core's ids look like it.
const sampleEnvID = "env-0123456789"

// checkExtras validates the ingress, fsGroup and pull secret settings first
// thing in New, so that a mistake in berth.yaml stops `berth serve` naming
// its field, whether the cluster answers or not.
func checkExtras(cfg Config) error {
	if cfg.IngressHost == "" {
		// A class or TLS Secret without a host would silently do nothing.
		if cfg.IngressClassName != "" {
			return errors.New("ingressClassName is set but ingressHost is not: berth makes no Ingress without a host")
		}
		if cfg.IngressTLSSecret != "" {
			return errors.New("ingressTLSSecret is set but ingressHost is not: berth makes no Ingress without a host")
		}
	} else {
		if !strings.Contains(cfg.IngressHost, "{id}") && !strings.Contains(cfg.IngressHost, "{name}") {
			return fmt.Errorf("ingressHost: %q has neither {id} nor {name}: every environment needs a host of its own", cfg.IngressHost)
		}
		ns := cmp.Or(cfg.EnvNamespace, cfg.DefaultNamespace)
		if ns == "" && len(cfg.Namespaces) > 0 {
			ns = cfg.Namespaces[0]
		}
		ns = cmp.Or(ns, "default")
		sample := fillHost(cfg.IngressHost, sampleEnvID, ns, sampleEnvID)
		if errs := validation.IsDNS1123Subdomain(sample); len(errs) > 0 {
			return fmt.Errorf("ingressHost: %q makes hosts like %q, which is not a DNS-1123 subdomain: %s",
				cfg.IngressHost, sample, strings.Join(errs, "; "))
		}
		for field, v := range map[string]string{"ingressClassName": cfg.IngressClassName, "ingressTLSSecret": cfg.IngressTLSSecret} {
			if errs := validation.IsDNS1123Subdomain(v); v != "" && len(errs) > 0 {
				return fmt.Errorf("%s: %q is not a valid object name: %s", field, v, strings.Join(errs, "; "))
			}
		}
	}
	if cfg.WorkspaceFSGroup < 0 {
		return fmt.Errorf("workspaceFSGroup: must not be negative, got %d", cfg.WorkspaceFSGroup)
	}
	seen := map[string]bool{}
	for _, s := range cfg.ImagePullSecrets {
		if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
			return fmt.Errorf("imagePullSecrets: %q is not a valid Secret name: %s", s, strings.Join(errs, "; "))
		}
		if seen[s] {
			return fmt.Errorf("imagePullSecrets: %q is listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

// defaultURLTemplate is the vsCodeUrl template when the target sets none:
// the environment's Ingress host when it has one, else its Service.
func defaultURLTemplate(cfg Config) string {
	switch {
	case cfg.IngressHost == "":
		return DefaultURLTemplate
	case cfg.IngressTLSSecret != "":
		return "https://" + cfg.IngressHost
	default:
		return "http://" + cfg.IngressHost
	}
}

func fillHost(tmpl, name, ns, id string) string {
	return strings.NewReplacer("{name}", name, "{namespace}", ns, "{id}", id).Replace(tmpl)
}

// ingressHost is the environment's host. checkExtras vetted the template
// with a core id; an id of another shape may still make an invalid host,
// which is refused before anything is written.
func (r *Runtime) ingressHost(e envRef) (string, error) {
	host := fillHost(r.cfg.IngressHost, e.name, e.ns, e.id)
	if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
		return "", berth.Invalid("ingressHost", "target %q would give environment %s the host %q, which is not a DNS-1123 subdomain: %s",
			r.cfg.Target, e.id, host, strings.Join(errs, "; "))
	}
	return host, nil
}

// ingressSpec is the desired spec of the environment's Ingress.
func (r *Runtime) ingressSpec(e envRef, host string) networkingv1.IngressSpec {
	prefix := networkingv1.PathTypePrefix
	spec := networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
		Host: host,
		IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: e.name, Port: networkingv1.ServiceBackendPort{Name: idePortName}},
			}}},
		}},
	}}}
	if r.cfg.IngressClassName != "" {
		spec.IngressClassName = &r.cfg.IngressClassName
	}
	if r.cfg.IngressTLSSecret != "" {
		spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: r.cfg.IngressTLSSecret}}
	}
	return spec
}

// applyIngress creates or converges the environment's Ingress. Unchanged,
// it is not written.
func (r *Runtime) applyIngress(ctx context.Context, e envRef, owner, host string) error {
	ingresses := r.client.NetworkingV1().Ingresses(e.ns)
	return update(func() error {
		want := r.ingressSpec(e, host)
		ing, err := ingresses.Get(ctx, e.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			ing = &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: e.ns, Labels: e.labels(owner)}, Spec: want}
			_, err = ingresses.Create(ctx, ing, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !e.owns(ing) {
			return berth.Errorf(berth.ECONFLICT, "ingress %s exists and is not berth's for environment %s", e, e.id)
		}
		if want.IngressClassName == nil {
			// The DefaultIngressClass admission plugin names the cluster's
			// default class at create; clearing it would detach the Ingress
			// from its controller (and rewrite it on every apply).
			want.IngressClassName = ing.Spec.IngressClassName
		}
		labels := merged(maps.Clone(ing.Labels), e.labels(owner))
		if maps.Equal(labels, ing.Labels) && apiequality.Semantic.DeepEqual(want, ing.Spec) {
			return nil
		}
		ing.Labels, ing.Spec = labels, want
		_, err = ingresses.Update(ctx, ing, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// deleteIngress removes the environment's Ingress, when the target makes them.
func (r *Runtime) deleteIngress(ctx context.Context, e envRef) error {
	if r.cfg.IngressHost == "" {
		return nil
	}
	ingresses := r.client.NetworkingV1().Ingresses(e.ns)
	return deleteOwned(ctx, e, e.name, ingresses.Get, ingresses.Delete)
}

// watchIngresses adds the Ingress informer of one factory, called by New
// only when the target sets IngressHost: the Ingress API is then listed and
// watched like the rest, and reads wait for that cache too.
func (r *Runtime) watchIngresses(f informers.SharedInformerFactory) error {
	ings := f.Networking().V1().Ingresses()
	inf := ings.Informer()
	if err := inf.SetWatchErrorHandlerWithContext(r.watchError); err != nil {
		return err
	}
	if err := inf.SetTransform(trimCached); err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(r.driftHandler()); err != nil {
		return err
	}
	r.ingresses = append(r.ingresses, ings.Lister())
	r.synced = append(r.synced, inf.HasSynced)
	return nil
}

// ingressResource is an Ingress of the inventory. Its status says whether
// it can route: "no service a, b" while a Service it sends traffic to does
// not exist in its namespace, else "ready" once its controller published
// an address, "pending" before (no controller serves its class, or not yet).
func (r *Runtime) ingressResource(ing *networkingv1.Ingress, services corelisters.ServiceLister) berth.Resource {
	var hosts, backends, missing, tls, addresses []string
	backend := func(b *networkingv1.IngressBackend) {
		if b == nil || b.Service == nil {
			return
		}
		port := b.Service.Port.Name
		if port == "" {
			port = strconv.Itoa(int(b.Service.Port.Number))
		}
		if be := b.Service.Name + ":" + port; !slices.Contains(backends, be) {
			backends = append(backends, be)
		}
		if _, err := services.Services(ing.Namespace).Get(b.Service.Name); err != nil && !slices.Contains(missing, b.Service.Name) {
			missing = append(missing, b.Service.Name)
		}
	}
	backend(ing.Spec.DefaultBackend)
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" && !slices.Contains(hosts, rule.Host) {
			hosts = append(hosts, rule.Host)
		}
		if rule.HTTP != nil {
			for _, p := range rule.HTTP.Paths {
				backend(&p.Backend)
			}
		}
	}
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			tls = append(tls, t.SecretName)
		}
	}
	for _, in := range ing.Status.LoadBalancer.Ingress {
		addresses = append(addresses, in.IP+in.Hostname)
	}
	details := map[string]any{}
	for k, v := range map[string][]string{"hosts": hosts, "backends": backends, "missingBackends": missing,
		"tlsSecrets": tls, "loadBalancer": addresses} {
		if len(v) > 0 {
			details[k] = v
		}
	}
	if ing.Spec.IngressClassName != nil {
		details["ingressClassName"] = *ing.Spec.IngressClassName
	}
	status := "pending"
	switch {
	case ing.DeletionTimestamp != nil:
		status = "Terminating"
	case len(missing) > 0:
		status = "no service " + strings.Join(missing, ", ")
	case len(addresses) > 0:
		status = "ready"
	}
	return r.resource(TypeIngress, ing.ObjectMeta, status, details)
}
