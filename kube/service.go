package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const fieldManager = "berth"

// kinds of workload a service can be.
const (
	kindDeployment  = "Deployment"
	kindStatefulSet = "StatefulSet"
)

// ApplyService converges the Deployment (and its Secret, ConfigMap and
// Service) to svc. A workload of that name berth did not create is left
// alone: CONFLICT.
func (r *Runtime) ApplyService(ctx context.Context, svc *berth.Service) error {
	ns, err := r.namespace(svc.Namespace)
	if err != nil {
		return err
	}
	tmpl, err := podTemplate(svc)
	if err != nil {
		return err
	}
	tmpl.Spec.ImagePullSecrets = r.pullSecrets()
	what := fmt.Sprintf("apply service %s/%s", ns, svc.Name)
	if err := r.applySecret(ctx, ns, svc); err != nil {
		return r.apiError(err, "%s: secret", what)
	}
	if err := r.applyConfigMap(ctx, ns, svc); err != nil {
		return r.apiError(err, "%s: config map", what)
	}
	var written *appsv1.Deployment
	created := false
	err = update(func() error {
		deploys := r.client.AppsV1().Deployments(ns)
		d, err := deploys.Get(ctx, svc.Name, metav1.GetOptions{})
		now := r.cfg.Now().UTC().Format(time.RFC3339)
		if apierrors.IsNotFound(err) {
			d = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: ns}}
			applyDeployment(d, svc, tmpl, now)
			written, err = deploys.Create(ctx, d, metav1.CreateOptions{FieldManager: fieldManager})
			created = err == nil
			return err
		}
		if err != nil {
			return err
		}
		if !isManaged(d) {
			return berth.Errorf(berth.ECONFLICT, "deployment %s/%s exists and is not managed by berth", ns, svc.Name)
		}
		applyDeployment(d, svc, tmpl, now)
		written, err = deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	// A new Deployment had no previous spec whose Service, Secret or
	// ConfigMap could be left over: skipping those reads halves the API
	// calls of a create (bench-kube: 100 creates were bound by berth's QPS).
	// Leftovers of a delete interrupted midway go with the next delete.
	if len(svc.Spec.Ports) > 0 || !created {
		if err := r.applyPorts(ctx, ns, svc); err != nil {
			return r.apiError(err, "%s: service", what)
		}
	}
	// What the spec no longer needs goes only now: until the update above,
	// pods of the previous template may still start and read it.
	if len(svc.Spec.Secrets) == 0 && !created {
		secrets := r.client.CoreV1().Secrets(ns)
		if err := deleteManaged(ctx, ns, secretName(svc.Name), secrets.Get, secrets.Delete); err != nil {
			return r.apiError(err, "%s: secret", what)
		}
	}
	if len(svc.Spec.Config.Files) == 0 && !created {
		cms := r.client.CoreV1().ConfigMaps(ns)
		if err := deleteManaged(ctx, ns, configName(svc.Name), cms.Get, cms.Delete); err != nil {
			return r.apiError(err, "%s: config map", what)
		}
	}
	r.await(ctx, &workload{kind: kindDeployment, ns: ns, name: svc.Name}, written.ResourceVersion)
	return nil
}

func (r *Runtime) applySecret(ctx context.Context, ns string, svc *berth.Service) error {
	secrets := r.client.CoreV1().Secrets(ns)
	name := secretName(svc.Name)
	if len(svc.Spec.Secrets) == 0 {
		return nil // removed after the Deployment stops using it
	}
	data := map[string][]byte{}
	for k, v := range svc.Spec.Secrets {
		data[k] = []byte(v)
	}
	return update(func() error {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: objectLabels(svc)},
				Type: corev1.SecretTypeOpaque, Data: data}
			_, err = secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !isManaged(s) {
			return berth.Errorf(berth.ECONFLICT, "secret %s/%s exists and is not managed by berth", ns, name)
		}
		s.Labels, s.Data, s.StringData = merged(s.Labels, objectLabels(svc)), data, nil
		_, err = secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

func (r *Runtime) applyConfigMap(ctx context.Context, ns string, svc *berth.Service) error {
	cms := r.client.CoreV1().ConfigMaps(ns)
	name := configName(svc.Name)
	if len(svc.Spec.Config.Files) == 0 {
		return nil // removed after the Deployment stops using it
	}
	data := map[string]string{}
	for k, v := range svc.Spec.Config.Files {
		data[configKey(k)] = v
	}
	return update(func() error {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: objectLabels(svc)}, Data: data}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !isManaged(cm) {
			return berth.Errorf(berth.ECONFLICT, "config map %s/%s exists and is not managed by berth", ns, name)
		}
		cm.Labels, cm.Data = merged(cm.Labels, objectLabels(svc)), data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// applyPorts keeps a ClusterIP Service in front of the pods while the spec has ports.
func (r *Runtime) applyPorts(ctx context.Context, ns string, svc *berth.Service) error {
	services := r.client.CoreV1().Services(ns)
	if len(svc.Spec.Ports) == 0 {
		return deleteManaged(ctx, ns, svc.Name, services.Get, services.Delete)
	}
	var ports []corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		ports = append(ports, corev1.ServicePort{Name: portName(p), Port: int32(p.Port), // #nosec G115 -- ValidateServiceSpec bounds ports to 0..65535
			TargetPort: intstr.FromString(portName(p)), Protocol: corev1.ProtocolTCP})
	}
	return update(func() error {
		s, err := services.Get(ctx, svc.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: ns, Labels: objectLabels(svc)},
				Spec: corev1.ServiceSpec{Selector: selector(svc.Name), Ports: ports}}
			_, err = services.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !isManaged(s) {
			return berth.Errorf(berth.ECONFLICT, "service %s/%s exists and is not managed by berth", ns, svc.Name)
		}
		// The cluster IP and node ports the server chose stay as they are.
		s.Labels, s.Spec.Selector, s.Spec.Ports = merged(s.Labels, objectLabels(svc)), selector(svc.Name), ports
		_, err = services.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// deleteManaged removes an object berth created; a missing one is fine.
func deleteManaged[T metav1.Object](ctx context.Context, ns, name string,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	del func(context.Context, string, metav1.DeleteOptions) error) error {
	obj, err := get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !isManaged(obj) {
		return nil // not ours: leave it
	}
	uid := obj.GetUID()
	err = del(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// DeleteService removes what berth created for the service. Deleting what
// is gone succeeds; a workload berth did not create is refused.
func (r *Runtime) DeleteService(ctx context.Context, ref berth.ServiceRef) error {
	ns, err := r.namespace(ref.Namespace)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("delete service %s/%s", ns, ref.Name)
	deploys := r.client.AppsV1().Deployments(ns)
	d, err := deploys.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return r.apiError(err, "%s", what)
	case !isManaged(d):
		return berth.Errorf(berth.ECONFLICT, "%s: deployment is not managed by berth", what)
	default:
		uid := d.UID
		err := deploys.Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			return r.apiError(err, "%s", what)
		}
	}
	services, secrets, cms := r.client.CoreV1().Services(ns), r.client.CoreV1().Secrets(ns), r.client.CoreV1().ConfigMaps(ns)
	if err := deleteManaged(ctx, ns, ref.Name, services.Get, services.Delete); err != nil {
		return r.apiError(err, "%s: service", what)
	}
	if err := deleteManaged(ctx, ns, secretName(ref.Name), secrets.Get, secrets.Delete); err != nil {
		return r.apiError(err, "%s: secret", what)
	}
	if err := deleteManaged(ctx, ns, configName(ref.Name), cms.Get, cms.Delete); err != nil {
		return r.apiError(err, "%s: config map", what)
	}
	r.awaitGone(ctx, ns, ref.Name)
	return nil
}

// workload is what scale, stop, start and restart act on.
type workload struct {
	kind, ns, name string
	annotations    map[string]string
	paused         bool
}

// find looks the service up in the caches (a Deployment first, then a StatefulSet).
func (r *Runtime) find(ctx context.Context, ref berth.ServiceRef) (*workload, error) {
	ns, err := r.namespace(ref.Namespace)
	if err != nil {
		return nil, err
	}
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	i := r.listerIndex(ns)
	if d, err := r.deploys[i].Deployments(ns).Get(ref.Name); err == nil {
		return &workload{kind: kindDeployment, ns: ns, name: ref.Name, annotations: d.Annotations, paused: d.Spec.Paused}, nil
	}
	if s, err := r.sets[i].StatefulSets(ns).Get(ref.Name); err == nil {
		return &workload{kind: kindStatefulSet, ns: ns, name: ref.Name, annotations: s.Annotations}, nil
	}
	return nil, berth.NotFound("service", ns+"/"+ref.Name)
}

// fresh reads the workload from the API server: stop and start decide on
// the annotations, which the cache may not show yet.
func (r *Runtime) fresh(ctx context.Context, w *workload) error {
	var meta metav1.ObjectMeta
	switch w.kind {
	case kindDeployment:
		d, err := r.client.AppsV1().Deployments(w.ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		meta, w.paused = d.ObjectMeta, d.Spec.Paused
	default:
		s, err := r.client.AppsV1().StatefulSets(w.ns).Get(ctx, w.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		meta = s.ObjectMeta
	}
	w.annotations = meta.Annotations
	return nil
}

func (r *Runtime) getScale(ctx context.Context, w *workload) (*autoscalingv1.Scale, error) {
	if w.kind == kindDeployment {
		return r.client.AppsV1().Deployments(w.ns).GetScale(ctx, w.name, metav1.GetOptions{})
	}
	return r.client.AppsV1().StatefulSets(w.ns).GetScale(ctx, w.name, metav1.GetOptions{})
}

// scale sets the replicas through the /scale subresource, as kubectl scale
// and autoscalers do, so nothing else of the workload is rewritten.
// It returns the resource version written ("" when nothing changed).
func (r *Runtime) scale(ctx context.Context, w *workload, replicas int) (string, error) {
	var rv string
	err := update(func() error {
		s, err := r.getScale(ctx, w)
		if err != nil {
			return err
		}
		if s.Spec.Replicas == int32(replicas) { // #nosec G115 -- core.ScaleService bounds replicas to 0..max-replicas
			return nil
		}
		s.Spec.Replicas = int32(replicas) // #nosec G115 -- core.ScaleService bounds replicas to 0..max-replicas
		opts := metav1.UpdateOptions{FieldManager: fieldManager}
		if w.kind == kindDeployment {
			s, err = r.client.AppsV1().Deployments(w.ns).UpdateScale(ctx, w.name, s, opts)
		} else {
			s, err = r.client.AppsV1().StatefulSets(w.ns).UpdateScale(ctx, w.name, s, opts)
		}
		if err == nil {
			rv = s.ResourceVersion
		}
		return err
	})
	return rv, err
}

// patch applies a JSON merge patch to the workload.
func (r *Runtime) patch(ctx context.Context, w *workload, patch map[string]any) (string, error) {
	data, err := json.Marshal(patch)
	if err != nil {
		return "", err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	if w.kind == kindDeployment {
		d, err := r.client.AppsV1().Deployments(w.ns).Patch(ctx, w.name, types.MergePatchType, data, opts)
		if err != nil {
			return "", err
		}
		return d.ResourceVersion, nil
	}
	s, err := r.client.AppsV1().StatefulSets(w.ns).Patch(ctx, w.name, types.MergePatchType, data, opts)
	if err != nil {
		return "", err
	}
	return s.ResourceVersion, nil
}

func annotations(kv map[string]any) map[string]any {
	return map[string]any{"metadata": map[string]any{"annotations": kv}}
}

// ScaleService sets the replica count. A stopped service stays stopped and
// starts with the new count.
func (r *Runtime) ScaleService(ctx context.Context, ref berth.ServiceRef, replicas int) error {
	if replicas < 0 {
		return berth.Invalid("replicas", "must not be negative, got %d", replicas)
	}
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("scale service %s/%s to %d", w.ns, w.name, replicas)
	if err := r.fresh(ctx, w); err != nil {
		return r.apiError(err, "%s", what)
	}
	if _, stopped := w.annotations[AnnotationReplicasBeforeStop]; stopped {
		rv, err := r.patch(ctx, w, annotations(map[string]any{AnnotationReplicasBeforeStop: strconv.Itoa(replicas)}))
		if err != nil {
			return r.apiError(err, "%s", what)
		}
		r.await(ctx, w, rv)
		return nil
	}
	rv, err := r.scale(ctx, w, replicas)
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, w, rv)
	return nil
}

// StopService scales to 0 and remembers the count in an annotation. The
// annotation is written first: if scaling fails, stopping again finishes
// the job and starting restores the count.
func (r *Runtime) StopService(ctx context.Context, ref berth.ServiceRef) error {
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("stop service %s/%s", w.ns, w.name)
	if err := r.fresh(ctx, w); err != nil {
		return r.apiError(err, "%s", what)
	}
	if _, stopped := w.annotations[AnnotationReplicasBeforeStop]; !stopped {
		s, err := r.getScale(ctx, w)
		if err != nil {
			return r.apiError(err, "%s", what)
		}
		_, err = r.patch(ctx, w, annotations(map[string]any{
			AnnotationReplicasBeforeStop: strconv.Itoa(int(s.Spec.Replicas)),
			AnnotationStoppedAt:          r.cfg.Now().UTC().Format(time.RFC3339),
		}))
		if err != nil {
			return r.apiError(err, "%s", what)
		}
	}
	rv, err := r.scale(ctx, w, 0)
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, w, rv)
	return nil
}

// StartService scales back to the remembered count (1 when none is
// remembered and the workload runs nothing) and forgets it.
func (r *Runtime) StartService(ctx context.Context, ref berth.ServiceRef) error {
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("start service %s/%s", w.ns, w.name)
	if err := r.fresh(ctx, w); err != nil {
		return r.apiError(err, "%s", what)
	}
	before, stopped := w.annotations[AnnotationReplicasBeforeStop]
	replicas, err := strconv.Atoi(before)
	if !stopped || err != nil || replicas < 0 {
		s, err := r.getScale(ctx, w)
		if err != nil {
			return r.apiError(err, "%s", what)
		}
		replicas = max(int(s.Spec.Replicas), 1)
	}
	if _, err := r.scale(ctx, w, replicas); err != nil {
		return r.apiError(err, "%s", what)
	}
	rv, err := r.patch(ctx, w, annotations(map[string]any{AnnotationReplicasBeforeStop: nil, AnnotationStoppedAt: nil}))
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, w, rv)
	return nil
}

// RestartService sets kubectl's restartedAt annotation on the pod template:
// the controller replaces the pods by its rolling update strategy.
func (r *Runtime) RestartService(ctx context.Context, ref berth.ServiceRef) error {
	w, err := r.find(ctx, ref)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("restart service %s/%s", w.ns, w.name)
	if err := r.fresh(ctx, w); err != nil {
		return r.apiError(err, "%s", what)
	}
	if w.paused {
		return berth.Errorf(berth.ECONFLICT, "%s: the deployment is paused (resume its rollout first)", what)
	}
	rv, err := r.patch(ctx, w, map[string]any{"spec": map[string]any{"template": annotations(map[string]any{
		AnnotationRestartedAt: r.cfg.Now().UTC().Format(time.RFC3339Nano),
	})}})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, w, rv)
	return nil
}
