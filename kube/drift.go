package kube

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// Drift (berth.DriftReporter): core asks whether the objects berth made for
// a service or an environment are still as berth would apply them now. Each
// object is compared on what berth sets: that it exists, its labels, and
// for a Deployment its replicas and its container's image, command, working
// directory, variables and ports (fields the API server defaults are left
// out, so a default never reads as drift). Objects berth did not create are
// not looked at: an unmanaged one of the same name is a conflict the apply
// reports. Deployments, Services, claims and Ingresses are read from the
// informers' caches; Secrets and ConfigMaps (not cached) from the API.

var (
	_ berth.DriftReporter = (*Runtime)(nil)
	_ berth.DriftNotifier = (*Runtime)(nil)
)

// driftList collects what drifted.
type driftList []string

func (d *driftList) add(kind string, ns, name, what string) {
	*d = append(*d, fmt.Sprintf("%s %s/%s: %s", kind, ns, name, what))
}

// ServiceDrift compares the Deployment, Secret, ConfigMap and Service of a
// service with what ApplyService would write.
func (r *Runtime) ServiceDrift(ctx context.Context, svc *berth.Service) ([]string, error) {
	ns, err := r.namespace(svc.Namespace)
	if err != nil {
		return nil, err
	}
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	tmpl, err := podTemplate(svc)
	if err != nil {
		return nil, err
	}
	var drift driftList
	i := r.listerIndex(ns)
	d, err := r.deploys[i].Deployments(ns).Get(svc.Name)
	switch {
	case apierrors.IsNotFound(err):
		drift.add("Deployment", ns, svc.Name, "missing")
	case err != nil:
		return nil, r.apiError(err, "check drift of service %s/%s", ns, svc.Name)
	case isManaged(d):
		replicas := int32(svc.Replicas) // #nosec G115 -- core bounds replicas to 0..max-replicas
		if svc.Stopped {
			replicas = 0
		}
		if what := deploymentDrift(d, objectLabels(svc), replicas, tmpl); what != "" {
			drift.add("Deployment", ns, svc.Name, what)
		}
	}
	if len(svc.Spec.Secrets) > 0 {
		want := map[string][]byte{}
		for k, v := range svc.Spec.Secrets {
			want[k] = []byte(v)
		}
		s, err := r.client.CoreV1().Secrets(ns).Get(ctx, secretName(svc.Name), metav1.GetOptions{})
		if err := dataDrift(&drift, "Secret", ns, secretName(svc.Name), err, s, objectLabels(svc), func() bool { return sameData(s.Data, want) }); err != nil {
			return nil, r.apiError(err, "check drift of service %s/%s: secret", ns, svc.Name)
		}
	}
	if len(svc.Spec.Config.Files) > 0 {
		want := map[string]string{}
		for k, v := range svc.Spec.Config.Files {
			want[configKey(k)] = v
		}
		cm, err := r.client.CoreV1().ConfigMaps(ns).Get(ctx, configName(svc.Name), metav1.GetOptions{})
		if err := dataDrift(&drift, "ConfigMap", ns, configName(svc.Name), err, cm, objectLabels(svc), func() bool { return maps.Equal(cm.Data, want) }); err != nil {
			return nil, r.apiError(err, "check drift of service %s/%s: config map", ns, svc.Name)
		}
	}
	if len(svc.Spec.Ports) > 0 {
		var ports []corev1.ServicePort
		for _, p := range svc.Spec.Ports {
			ports = append(ports, corev1.ServicePort{Name: portName(p), Port: int32(p.Port)}) // #nosec G115 -- ValidateServiceSpec bounds ports to 0..65535
		}
		s, err := r.services[i].Services(ns).Get(svc.Name)
		if err := dataDrift(&drift, "Service", ns, svc.Name, err, s, objectLabels(svc), func() bool {
			return maps.Equal(s.Spec.Selector, selector(svc.Name)) && samePorts(s.Spec.Ports, ports)
		}); err != nil {
			return nil, r.apiError(err, "check drift of service %s/%s: service", ns, svc.Name)
		}
	}
	return drift, nil
}

// EnvironmentDrift compares the claim, Secret, Deployment, Service and
// Ingress of an environment with what ApplyEnvironment would write. A
// deleting environment is core's to finish: it is not checked.
func (r *Runtime) EnvironmentDrift(ctx context.Context, env *berth.Environment) ([]string, error) {
	e, image, host, err := r.envInputs(ctx, env)
	if err != nil {
		return nil, err
	}
	var drift driftList
	i := r.listerIndex(e.ns)
	labels := e.labels(env.UserID)
	c, err := r.pvcs[i].PersistentVolumeClaims(e.ns).Get(e.name)
	// A claim's size and class are immutable: only its existence matters.
	if err := dataDrift(&drift, "PersistentVolumeClaim", e.ns, e.name, err, c, e.labels(""), func() bool { return true }); err != nil {
		return nil, r.apiError(err, "check drift of environment %s: claim", env.ID)
	}
	_, secrets := r.envVars(env)
	var secretKeys []string
	if len(secrets) > 0 {
		want := map[string][]byte{}
		for k, v := range secrets {
			want[k] = []byte(v)
		}
		s, err := r.client.CoreV1().Secrets(e.ns).Get(ctx, e.secret, metav1.GetOptions{})
		if err := dataDrift(&drift, "Secret", e.ns, e.secret, err, s, labels, func() bool { return sameData(s.Data, want) }); err != nil {
			return nil, r.apiError(err, "check drift of environment %s: secret", env.ID)
		}
		secretKeys = sortedKeys(secrets)
	}
	d, err := r.deploys[i].Deployments(e.ns).Get(e.name)
	switch {
	case apierrors.IsNotFound(err):
		drift.add("Deployment", e.ns, e.name, "missing")
	case err != nil:
		return nil, r.apiError(err, "check drift of environment %s", env.ID)
	case e.owns(d):
		replicas := int32(1)
		if env.Stopped {
			replicas = 0
		}
		if what := deploymentDrift(d, labels, replicas, r.workspaceTemplate(e, env, image, secretKeys, "")); what != "" {
			drift.add("Deployment", e.ns, e.name, what)
		}
	}
	s, err := r.services[i].Services(e.ns).Get(e.name)
	if err := dataDrift(&drift, "Service", e.ns, e.name, err, s, labels, func() bool {
		return maps.Equal(s.Spec.Selector, e.selector()) &&
			samePorts(s.Spec.Ports, []corev1.ServicePort{{Name: idePortName, Port: r.cfg.IDEPort}})
	}); err != nil {
		return nil, r.apiError(err, "check drift of environment %s: service", env.ID)
	}
	if host != "" && r.ingresses != nil {
		ing, err := r.ingresses[i].Ingresses(e.ns).Get(e.name)
		if err := dataDrift(&drift, "Ingress", e.ns, e.name, err, ing, labels, func() bool {
			want := r.ingressSpec(e, host)
			if want.IngressClassName == nil {
				want.IngressClassName = ing.Spec.IngressClassName // the default class, named at create
			}
			return apiequality.Semantic.DeepEqual(want, ing.Spec)
		}); err != nil {
			return nil, r.apiError(err, "check drift of environment %s: ingress", env.ID)
		}
	}
	return drift, nil
}

// dataDrift adds the drift of one object read with err: missing, or its
// labels or content (same) not as berth writes them. An object that is not
// berth's is left to the apply (which refuses it).
func dataDrift[T metav1.Object](drift *driftList, kind, ns, name string, err error, obj T, labels map[string]string, same func() bool) error {
	if apierrors.IsNotFound(err) {
		drift.add(kind, ns, name, "missing")
		return nil
	}
	if err != nil {
		return err
	}
	if !isManaged(obj) {
		return nil
	}
	if !hasLabels(obj.GetLabels(), labels) {
		drift.add(kind, ns, name, "labels changed")
	} else if !same() {
		drift.add(kind, ns, name, "changed")
	}
	return nil
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// samePorts compares the ports berth sets (name and port; the protocol and
// target port follow from them).
func samePorts(have, want []corev1.ServicePort) bool {
	return slices.EqualFunc(have, want, func(a, b corev1.ServicePort) bool { return a.Name == b.Name && a.Port == b.Port })
}

// deploymentDrift says what of d differs from what berth writes ("" when
// nothing): labels, replicas, and the first container's image, command,
// working directory, variables and ports.
func deploymentDrift(d *appsv1.Deployment, labels map[string]string, replicas int32, tmpl corev1.PodTemplateSpec) string {
	if !hasLabels(d.Labels, labels) {
		return "labels changed"
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		return fmt.Sprintf("replicas changed (want %d)", replicas)
	}
	if len(d.Spec.Template.Spec.Containers) != len(tmpl.Spec.Containers) {
		return "containers changed"
	}
	have, want := d.Spec.Template.Spec.Containers[0], tmpl.Spec.Containers[0]
	switch {
	case have.Image != want.Image:
		return "image changed"
	case !slices.Equal(have.Command, want.Command):
		return "command changed"
	case have.WorkingDir != want.WorkingDir:
		return "working directory changed"
	case !apiequality.Semantic.DeepEqual(envOf(have.Env), envOf(want.Env)):
		return "variables changed"
	case !slices.EqualFunc(have.Ports, want.Ports, func(a, b corev1.ContainerPort) bool {
		return a.Name == b.Name && a.ContainerPort == b.ContainerPort
	}):
		return "ports changed"
	}
	return ""
}

// envOf is a container's variables without what the API server defaults.
func envOf(vars []corev1.EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(vars))
	for _, v := range vars {
		out = append(out, corev1.EnvVar{Name: v.Name, Value: v.Value, ValueFrom: v.ValueFrom})
	}
	return out
}

// driftCallback is core's callback (NotifyDrift).
type driftCallback = func(svc berth.ServiceRef, envID string)

// NotifyDrift has the informers tell core when a managed Deployment,
// Service, claim or Ingress is deleted or its spec changes, so that its
// service or environment is checked at once (Secrets and ConfigMaps are not
// watched: the periodic resync finds them).
func (r *Runtime) NotifyDrift(notify func(svc berth.ServiceRef, envID string)) {
	r.drift.Store(&notify)
}

// driftHandler is the informer handler behind NotifyDrift, added by New.
func (r *Runtime) driftHandler() cache.ResourceEventHandler {
	tell := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok || !isManaged(m) {
			return
		}
		fn := r.drift.Load()
		if fn == nil {
			return
		}
		switch l := m.GetLabels(); l[LabelKind] {
		case "service":
			(*fn)(berth.ServiceRef{Target: r.cfg.Target, Namespace: m.GetNamespace(), Name: l[LabelID]}, "")
		case kindEnvironment:
			(*fn)(berth.ServiceRef{}, l[LabelID])
		}
	}
	return cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(metav1.Object)
			n, ok2 := newObj.(metav1.Object)
			// A status update (a pod became ready) is no drift; a spec or
			// label change is (Deployments count spec changes in
			// generation, the other kinds change seldom).
			if !ok1 || !ok2 || o.GetResourceVersion() == n.GetResourceVersion() {
				return
			}
			if _, isDeploy := n.(*appsv1.Deployment); isDeploy && o.GetGeneration() == n.GetGeneration() && maps.Equal(o.GetLabels(), n.GetLabels()) {
				return
			}
			tell(newObj)
		},
		DeleteFunc: tell,
	}
}
