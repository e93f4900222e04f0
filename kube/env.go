package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// An environment on Kubernetes is a Deployment of one workspace pod (none
// while stopped), a ReadWriteOnce PVC mounted at the workspace path (kept
// across stop/start), a Secret with its credentials (referenced from the
// pod, never copied into the Deployment), a ClusterIP Service for the IDE
// port and, when the target sets IngressHost, an Ingress to that Service
// (ingress.go). Objects are named after the environment id.

// ApplyEnvironment creates the environment's objects or converges them to
// env (running, or scaled to 0 when env.Stopped), and reports its state.
func (r *Runtime) ApplyEnvironment(ctx context.Context, env *berth.Environment) (*berth.EnvironmentState, error) {
	return r.applyEnv(ctx, env, "apply environment "+env.ID)
}

// envInputs are the environment's names, image and Ingress host ("" on
// targets without ingressHost), once the informers have synced.
func (r *Runtime) envInputs(ctx context.Context, env *berth.Environment) (e envRef, image, host string, err error) {
	if e, err = r.envRef(env); err != nil {
		return envRef{}, "", "", err
	}
	if image, err = r.workspaceImage(env); err != nil {
		return envRef{}, "", "", err
	}
	if r.cfg.IngressHost != "" {
		if host, err = r.ingressHost(e); err != nil {
			return envRef{}, "", "", err
		}
	}
	return e, image, host, r.waitSynced(ctx)
}

func (r *Runtime) applyEnv(ctx context.Context, env *berth.Environment, what string) (*berth.EnvironmentState, error) {
	e, image, host, err := r.envInputs(ctx, env)
	if err != nil {
		return nil, err
	}
	if err := r.envConflict(ctx, e); err != nil {
		return nil, berth.Wrap(err, berth.ECONFLICT, "%s", what)
	}
	if err := r.applyClaim(ctx, e, env); err != nil {
		return nil, r.apiError(err, "%s: volume claim %s", what, e)
	}
	_, secrets := r.envVars(env)
	version, err := r.applyEnvSecret(ctx, e, env.UserID, secrets)
	if err != nil {
		return nil, r.apiError(err, "%s: secret %s/%s", what, e.ns, e.secret)
	}
	tmpl := r.workspaceTemplate(e, env, image, sortedKeys(secrets), version)
	written, err := r.applyWorkspaceDeployment(ctx, e, env, tmpl)
	if err != nil {
		return nil, r.apiError(err, "%s: deployment %s", what, e)
	}
	if err := r.applyEnvService(ctx, e, env.UserID); err != nil {
		return nil, r.apiError(err, "%s: service %s", what, e)
	}
	if host != "" {
		if err := r.applyIngress(ctx, e, env.UserID, host); err != nil {
			return nil, r.apiError(err, "%s: ingress %s", what, e)
		}
	}
	// A Secret no longer needed goes only now that the pod template no longer refers to it.
	if len(secrets) == 0 {
		s := r.client.CoreV1().Secrets(e.ns)
		if err := deleteOwned(ctx, e, e.secret, s.Get, s.Delete); err != nil {
			return nil, r.apiError(err, "%s: secret %s/%s", what, e.ns, e.secret)
		}
	}
	r.await(ctx, &workload{kind: kindDeployment, ns: e.ns, name: e.name}, written.ResourceVersion)
	return r.envState(e)
}

// envConflict refuses, before anything is written, objects of the
// environment's names that berth did not make for it (the writes check
// again). Secrets are not cached: that one is read.
func (r *Runtime) envConflict(ctx context.Context, e envRef) error {
	i := r.listerIndex(e.ns)
	taken := func(kind string, obj metav1.Object) error {
		return berth.Errorf(berth.ECONFLICT, "%s %s/%s exists and is not berth's for environment %s", kind, e.ns, obj.GetName(), e.id)
	}
	if d, err := r.deploys[i].Deployments(e.ns).Get(e.name); err == nil && !e.owns(d) {
		return taken("deployment", d)
	}
	if s, err := r.services[i].Services(e.ns).Get(e.name); err == nil && !e.owns(s) {
		return taken("service", s)
	}
	if c, err := r.pvcs[i].PersistentVolumeClaims(e.ns).Get(e.name); err == nil && !e.owns(c) {
		return taken("persistent volume claim", c)
	}
	if r.ingresses != nil { // only targets with IngressHost watch them
		if g, err := r.ingresses[i].Ingresses(e.ns).Get(e.name); err == nil && !e.owns(g) {
			return taken("ingress", g)
		}
	}
	s, err := r.client.CoreV1().Secrets(e.ns).Get(ctx, e.secret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return r.apiError(err, "read secret %s/%s", e.ns, e.secret)
	case !e.owns(s):
		return taken("secret", s)
	}
	return nil
}

// applyClaim creates the workspace's claim. An existing one is kept as it
// is: its size and class are immutable, and its data is the workspace.
func (r *Runtime) applyClaim(ctx context.Context, e envRef, env *berth.Environment) error {
	claims := r.client.CoreV1().PersistentVolumeClaims(e.ns)
	return update(func() error {
		c, err := claims.Get(ctx, e.name, metav1.GetOptions{})
		if err == nil {
			if !e.owns(c) {
				return berth.Errorf(berth.ECONFLICT, "persistent volume claim %s exists and is not berth's for environment %s", e, e.id)
			}
			if _, kept := c.Annotations[AnnotationKeptVolume]; kept {
				// A kept workspace comes back into use: it belongs to env again.
				delete(c.Annotations, AnnotationKeptVolume)
				_, err = claims.Update(ctx, c, metav1.UpdateOptions{FieldManager: fieldManager})
				return err
			}
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		gb := env.StorageGB
		if gb <= 0 {
			gb = berth.DefaultStorageGB
		}
		c = &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: e.ns, Labels: e.labels(env.UserID)},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceStorage: *resource.NewQuantity(int64(gb)<<30, resource.BinarySI),
				}},
			},
		}
		if r.cfg.StorageClass != "" {
			c.Spec.StorageClassName = &r.cfg.StorageClass
		}
		_, err = claims.Create(ctx, c, metav1.CreateOptions{FieldManager: fieldManager})
		return err
	})
}

// applyEnvSecret writes the secret variables and returns the Secret's
// resource version ("" when there are none). Unchanged data is not
// rewritten, so the version (and the pod template) stays the same.
func (r *Runtime) applyEnvSecret(ctx context.Context, e envRef, owner string, vars map[string]string) (string, error) {
	if len(vars) == 0 {
		return "", nil
	}
	secrets := r.client.CoreV1().Secrets(e.ns)
	data := map[string][]byte{}
	for k, v := range vars {
		data[k] = []byte(v)
	}
	var version string
	err := update(func() error {
		s, err := secrets.Get(ctx, e.secret, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: e.secret, Namespace: e.ns, Labels: e.labels(owner)},
				Type: corev1.SecretTypeOpaque, Data: data}
			if s, err = secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager}); err == nil {
				version = s.ResourceVersion
			}
			return err
		}
		if err != nil {
			return err
		}
		if !e.owns(s) {
			return berth.Errorf(berth.ECONFLICT, "secret %s/%s exists and is not berth's for environment %s", e.ns, e.secret, e.id)
		}
		labels := merged(maps.Clone(s.Labels), e.labels(owner))
		if maps.Equal(labels, s.Labels) && sameData(s.Data, data) {
			version = s.ResourceVersion
			return nil
		}
		s.Labels, s.Data, s.StringData = labels, data, nil
		if s, err = secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager}); err == nil {
			version = s.ResourceVersion
		}
		return err
	})
	return version, err
}

func sameData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

func (r *Runtime) applyWorkspaceDeployment(ctx context.Context, e envRef, env *berth.Environment, tmpl corev1.PodTemplateSpec) (*appsv1.Deployment, error) {
	deploys := r.client.AppsV1().Deployments(e.ns)
	var written *appsv1.Deployment
	err := update(func() error {
		now := r.cfg.Now().UTC().Format(time.RFC3339)
		d, err := deploys.Get(ctx, e.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			d = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: e.ns}}
			applyWorkspace(d, e, env, *tmpl.DeepCopy(), now)
			written, err = deploys.Create(ctx, d, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !e.owns(d) {
			return berth.Errorf(berth.ECONFLICT, "deployment %s exists and is not berth's for environment %s", e, e.id)
		}
		applyWorkspace(d, e, env, *tmpl.DeepCopy(), now)
		written, err = deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
	return written, err
}

// applyEnvService keeps a ClusterIP Service in front of the IDE port.
func (r *Runtime) applyEnvService(ctx context.Context, e envRef, owner string) error {
	services := r.client.CoreV1().Services(e.ns)
	ports := []corev1.ServicePort{{Name: idePortName, Port: r.cfg.IDEPort, TargetPort: intstr.FromString(idePortName), Protocol: corev1.ProtocolTCP}}
	return update(func() error {
		s, err := services.Get(ctx, e.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			s = &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: e.ns, Labels: e.labels(owner)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: e.selector(), Ports: ports}}
			_, err = services.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
			return err
		}
		if err != nil {
			return err
		}
		if !e.owns(s) {
			return berth.Errorf(berth.ECONFLICT, "service %s exists and is not berth's for environment %s", e, e.id)
		}
		labels := merged(maps.Clone(s.Labels), e.labels(owner))
		if maps.Equal(labels, s.Labels) && maps.Equal(s.Spec.Selector, e.selector()) && len(s.Spec.Ports) == 1 &&
			s.Spec.Ports[0].Port == ports[0].Port && s.Spec.Ports[0].TargetPort == ports[0].TargetPort {
			return nil
		}
		s.Labels, s.Spec.Selector, s.Spec.Ports = labels, e.selector(), ports
		_, err = services.Update(ctx, s, metav1.UpdateOptions{FieldManager: fieldManager})
		return err
	})
}

// StartEnvironment converges the environment to running: its Deployment
// goes back to one replica, mounting the same claim. Objects that went
// missing are made again.
func (r *Runtime) StartEnvironment(ctx context.Context, env *berth.Environment) error {
	cp := *env
	cp.Stopped = false
	_, err := r.applyEnv(ctx, &cp, "start environment "+env.ID)
	return err
}

// StopEnvironment scales the workspace to 0. The claim (and the Secret,
// Service and Ingress) stay, so starting again finds the same workspace.
func (r *Runtime) StopEnvironment(ctx context.Context, env *berth.Environment) error {
	e, err := r.envRef(env)
	if err != nil {
		return err
	}
	what := "stop environment " + env.ID
	deploys := r.client.AppsV1().Deployments(e.ns)
	d, err := deploys.Get(ctx, e.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return berth.Errorf(berth.ENOTFOUND, "%s: deployment %s not found on target %s", what, e, r.cfg.Target)
	}
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	if !e.owns(d) {
		return berth.Errorf(berth.ECONFLICT, "%s: deployment %s is not berth's for this environment", what, e)
	}
	_, stopped := d.Annotations[AnnotationStoppedAt]
	if d.Spec.Replicas != nil && *d.Spec.Replicas == 0 && stopped {
		return nil
	}
	ann := map[string]any{annotationStartedAt: nil}
	if !stopped {
		ann[AnnotationStoppedAt] = r.cfg.Now().UTC().Format(time.RFC3339)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}, "spec": map[string]any{"replicas": 0}})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d, err = deploys.Patch(ctx, e.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	if err != nil {
		return r.apiError(err, "%s", what)
	}
	r.await(ctx, &workload{kind: kindDeployment, ns: e.ns, name: e.name}, d.ResourceVersion)
	return nil
}

// DeleteEnvironment removes the Deployment, Service, Ingress and Secret,
// and the claim unless keepVolume. What is gone already is fine, and objects
// of the same names that are not this environment's (the cause of a CONFLICT
// at create) are left alone: deleting the environment must not be blocked
// by what berth never made.
func (r *Runtime) DeleteEnvironment(ctx context.Context, env *berth.Environment, keepVolume bool) error {
	e, err := r.envRef(env)
	if err != nil {
		return err
	}
	what := "delete environment " + env.ID
	deploys := r.client.AppsV1().Deployments(e.ns)
	if err := deleteOwned(ctx, e, e.name, deploys.Get, deploys.Delete); err != nil {
		return r.apiError(err, "%s: deployment", what)
	}
	services, secrets := r.client.CoreV1().Services(e.ns), r.client.CoreV1().Secrets(e.ns)
	// The Ingress first: it routes to the Service.
	if err := r.deleteIngress(ctx, e); err != nil {
		return r.apiError(err, "%s: ingress", what)
	}
	if err := deleteOwned(ctx, e, e.name, services.Get, services.Delete); err != nil {
		return r.apiError(err, "%s: service", what)
	}
	if err := deleteOwned(ctx, e, e.secret, secrets.Get, secrets.Delete); err != nil {
		return r.apiError(err, "%s: secret", what)
	}
	claims := r.client.CoreV1().PersistentVolumeClaims(e.ns)
	if !keepVolume {
		// The claim goes once no pod uses it (the pvc-protection finalizer).
		if err := deleteOwned(ctx, e, e.name, claims.Get, claims.Delete); err != nil {
			return r.apiError(err, "%s: volume claim", what)
		}
	} else if err := r.markKept(ctx, e); err != nil {
		return r.apiError(err, "%s: keep volume claim", what)
	}
	// Until the cache drops the Deployment, state would still report it.
	i := r.listerIndex(e.ns)
	r.poll(ctx, func() bool {
		d, err := r.deploys[i].Deployments(e.ns).Get(e.name)
		return err != nil || !e.owns(d)
	})
	return nil
}

// deleteOwned removes an object berth made for environment e; a missing
// one, or one that is not e's, is left as it is.
func deleteOwned[T metav1.Object](ctx context.Context, e envRef, name string,
	get func(context.Context, string, metav1.GetOptions) (T, error),
	del func(context.Context, string, metav1.DeleteOptions) error) error {
	obj, err := get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.owns(obj) || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	uid := obj.GetUID()
	err = del(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// markKept notes on a claim kept by keepVolume that it outlives its
// environment on purpose, so the inventory does not call it an orphan
// (which an orphan cleanup would then remove).
func (r *Runtime) markKept(ctx context.Context, e envRef) error {
	claims := r.client.CoreV1().PersistentVolumeClaims(e.ns)
	c, err := claims.Get(ctx, e.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || !e.owns(c) {
		return err
	}
	patch, err := json.Marshal(annotations(map[string]any{AnnotationKeptVolume: r.cfg.Now().UTC().Format(time.RFC3339)}))
	if err != nil {
		return err
	}
	_, err = claims.Patch(ctx, e.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	return err
}
