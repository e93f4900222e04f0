package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Inventory resource types of a Kubernetes target. A Kubernetes Service is
// "k8s-service": "service" is berth's own service type.
const (
	TypePod         = "pod"
	TypeDeployment  = "deployment"
	TypeStatefulSet = "statefulset"
	TypeKubeService = "k8s-service"
	TypePVC         = "pvc"
	TypeIngress     = "ingress" // only on targets with IngressHost
)

var (
	_ berth.Inventorier   = (*Runtime)(nil)
	_ berth.ResourceActor = (*Runtime)(nil)
)

// Inventory lists the Deployments, StatefulSets, pods, Services and PVCs of
// the watched namespaces from the caches, and their Ingresses when the
// target sets IngressHost (no informer watches them otherwise). IDs are
// "namespace/name".
func (r *Runtime) Inventory(ctx context.Context) ([]berth.Resource, error) {
	if err := r.waitSynced(ctx); err != nil {
		return nil, err
	}
	var out []berth.Resource
	for i := range r.factories {
		deploys, err := r.deploys[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list deployments: %w", r.cfg.Target, err)
		}
		for _, d := range deploys {
			out = append(out, r.deploymentResource(d))
		}
		sets, err := r.sets[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list statefulsets: %w", r.cfg.Target, err)
		}
		for _, s := range sets {
			out = append(out, r.statefulSetResource(s))
		}
		pods, err := r.pods[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list pods: %w", r.cfg.Target, err)
		}
		for _, p := range pods {
			out = append(out, r.podResource(p))
		}
		svcs, err := r.services[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list services: %w", r.cfg.Target, err)
		}
		for _, s := range svcs {
			out = append(out, r.kubeServiceResource(s))
		}
		pvcs, err := r.pvcs[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list persistent volume claims: %w", r.cfg.Target, err)
		}
		for _, c := range pvcs {
			out = append(out, r.pvcResource(c))
		}
		if r.ingresses == nil {
			continue
		}
		ings, err := r.ingresses[i].List(everything)
		if err != nil {
			return nil, fmt.Errorf("inventory of target %s: list ingresses: %w", r.cfg.Target, err)
		}
		for _, ing := range ings {
			out = append(out, r.ingressResource(ing, r.services[i]))
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Type != out[b].Type {
			return out[a].Type < out[b].Type
		}
		return out[a].ID < out[b].ID
	})
	return out, nil
}

// resource fills what every inventory item has from its metadata.
func (r *Runtime) resource(typ string, m metav1.ObjectMeta, status string, details map[string]any) berth.Resource {
	res := berth.Resource{Type: typ, ID: m.Namespace + "/" + m.Name, Name: m.Name, Target: r.cfg.Target,
		Namespace: m.Namespace, Status: status, Managed: m.Labels[LabelManagedBy] == ManagedBy, Details: details}
	if res.Managed {
		res.BerthKind, res.BerthID = m.Labels[LabelKind], m.Labels[LabelID]
	}
	if owner := m.Labels[LabelOwner]; owner != "" && res.Managed {
		details["owner"] = owner
	}
	details["createdAt"] = m.CreationTimestamp.UTC()
	return res
}

func (r *Runtime) deploymentResource(d *appsv1.Deployment) berth.Resource {
	st := deploymentState(d)
	desired := 1
	if d.Spec.Replicas != nil {
		desired = int(*d.Spec.Replicas)
	}
	details := map[string]any{
		"replicas": desired, "readyReplicas": int(d.Status.ReadyReplicas), "updatedReplicas": int(d.Status.UpdatedReplicas),
		"availableReplicas": int(d.Status.AvailableReplicas), "state": string(st.Status), "images": images(d.Spec.Template),
	}
	if st.Revision > 0 {
		details["revision"] = st.Revision
	}
	if d.Spec.Paused {
		details["paused"] = true
	}
	return r.resource(TypeDeployment, d.ObjectMeta, workloadStatus(st, desired, d.Status.ReadyReplicas), withStop(details, st))
}

func (r *Runtime) statefulSetResource(s *appsv1.StatefulSet) berth.Resource {
	st := statefulSetState(s)
	desired := 1
	if s.Spec.Replicas != nil {
		desired = int(*s.Spec.Replicas)
	}
	details := map[string]any{
		"replicas": desired, "readyReplicas": int(s.Status.ReadyReplicas), "updatedReplicas": int(s.Status.UpdatedReplicas),
		"state": string(st.Status), "images": images(s.Spec.Template), "serviceName": s.Spec.ServiceName,
	}
	var claims []string
	for _, c := range s.Spec.VolumeClaimTemplates {
		claims = append(claims, c.Name)
	}
	if len(claims) > 0 {
		details["volumeClaimTemplates"] = claims
	}
	return r.resource(TypeStatefulSet, s.ObjectMeta, workloadStatus(st, desired, s.Status.ReadyReplicas), withStop(details, st))
}

// workloadStatus reads "ready 2/3", or "stopped" when scaled to 0.
func workloadStatus(st *berth.ServiceState, desired int, ready int32) string {
	if st.Stopped || desired == 0 {
		return "stopped"
	}
	return fmt.Sprintf("ready %d/%d", ready, desired)
}

// withStop adds the replicas a stopped workload starts again with.
func withStop(details map[string]any, st *berth.ServiceState) map[string]any {
	if st.Stopped {
		details["stopped"] = true
		details["replicasBeforeStop"] = st.Replicas
	}
	return details
}

func images(t corev1.PodTemplateSpec) []string {
	var out []string
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

func (r *Runtime) podResource(p *corev1.Pod) berth.Resource {
	ready, restarts := false, 0
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, c := range p.Status.ContainerStatuses {
		restarts += int(c.RestartCount)
	}
	details := map[string]any{"phase": string(p.Status.Phase), "ready": ready, "restarts": restarts,
		"state": podState(p), "images": images(corev1.PodTemplateSpec{Spec: p.Spec})}
	if p.Spec.NodeName != "" {
		details["node"] = p.Spec.NodeName
	}
	if p.Status.PodIP != "" {
		details["ip"] = p.Status.PodIP
	}
	if owner := metav1.GetControllerOf(p); owner != nil {
		details["controller"] = owner.Kind + "/" + owner.Name
	}
	if p.Status.StartTime != nil {
		details["startedAt"] = p.Status.StartTime.UTC()
	}
	status := string(p.Status.Phase)
	switch {
	case p.DeletionTimestamp != nil:
		status = "Terminating"
	case p.Status.Phase == corev1.PodRunning && ready:
		status = "Running, ready"
	case p.Status.Phase == corev1.PodRunning:
		status = "Running, not ready"
	case status == "":
		status = "Unknown"
	}
	return r.resource(TypePod, p.ObjectMeta, status, details)
}

func (r *Runtime) kubeServiceResource(s *corev1.Service) berth.Resource {
	var ports []string
	for _, p := range s.Spec.Ports {
		port := strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol)
		if p.Name != "" {
			port = p.Name + " " + port
		}
		if p.NodePort != 0 {
			port += " node " + strconv.Itoa(int(p.NodePort))
		}
		ports = append(ports, port)
	}
	details := map[string]any{"type": string(s.Spec.Type), "ports": ports}
	if s.Spec.ClusterIP != "" {
		details["clusterIP"] = s.Spec.ClusterIP
	}
	if len(s.Spec.Selector) > 0 {
		details["selector"] = s.Spec.Selector
	}
	var ingress []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		ingress = append(ingress, in.IP+in.Hostname)
	}
	if len(ingress) > 0 {
		details["loadBalancer"] = ingress
	}
	status := string(s.Spec.Type)
	if status == "" {
		status = string(corev1.ServiceTypeClusterIP)
	}
	return r.resource(TypeKubeService, s.ObjectMeta, status, details)
}

func (r *Runtime) pvcResource(c *corev1.PersistentVolumeClaim) berth.Resource {
	details := map[string]any{"phase": string(c.Status.Phase)}
	if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		details["requested"] = q.String()
	}
	if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
		details["capacity"] = q.String()
	}
	if c.Spec.StorageClassName != nil {
		details["storageClass"] = *c.Spec.StorageClassName
	}
	if c.Spec.VolumeName != "" {
		details["volume"] = c.Spec.VolumeName
	}
	var modes []string
	for _, m := range c.Spec.AccessModes {
		modes = append(modes, string(m))
	}
	if len(modes) > 0 {
		details["accessModes"] = modes
	}
	status := string(c.Status.Phase)
	if c.DeletionTimestamp != nil {
		status = "Terminating"
	} else if status == "" {
		status = string(corev1.ClaimPending)
	}
	res := r.resource(TypePVC, c.ObjectMeta, status, details)
	if at, ok := c.Annotations[AnnotationKeptVolume]; ok {
		// Kept by keepVolume: it belongs to no live object, on purpose.
		details["keptSince"] = at
		res.BerthKind, res.BerthID = "", ""
	}
	return res
}

// inventoryID splits "namespace/name" and checks the namespace is watched.
func (r *Runtime) inventoryID(id string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", berth.Invalid("id", "%q is not namespace/name", id)
	}
	if len(r.cfg.Namespaces) > 0 && !slices.Contains(r.cfg.Namespaces, ns) {
		return "", "", berth.Invalid("id", "namespace %q of %q is not watched by target %q (watched: %s)",
			ns, id, r.cfg.Target, strings.Join(r.cfg.Namespaces, ", "))
	}
	return ns, name, nil
}

// DeleteResource deletes one object of the inventory (an Ingress only on a
// target with IngressHost). A pod is replaced by its controller; a
// Deployment berth created for a service goes with the Service, Secret and
// ConfigMap berth created beside it. Deleting what is gone succeeds.
func (r *Runtime) DeleteResource(ctx context.Context, typ, id string) error {
	ns, name, err := r.inventoryID(id)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("delete %s %s on target %s", typ, id, r.cfg.Target)
	opts := metav1.DeleteOptions{}
	switch typ {
	case TypePod:
		err = r.client.CoreV1().Pods(ns).Delete(ctx, name, opts)
	case TypeDeployment:
		d, gerr := r.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(gerr):
			return nil
		case gerr != nil:
			return r.apiError(gerr, "%s", what)
		case isManaged(d) && d.Labels[LabelKind] == "service":
			// Its companions (Service, Secret, ConfigMap) are not listed
			// as such: leaving them would orphan them for good.
			if err := r.DeleteService(ctx, berth.ServiceRef{Target: r.cfg.Target, Namespace: ns, Name: name}); err != nil {
				return berth.Wrap(err, berth.ESERVICE, "%s", what)
			}
			return nil
		}
		uid := d.UID
		err = r.client.AppsV1().Deployments(ns).Delete(ctx, name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err == nil {
			r.awaitGone(ctx, ns, name)
		}
	case TypeStatefulSet:
		err = r.client.AppsV1().StatefulSets(ns).Delete(ctx, name, opts)
	case TypeKubeService:
		err = r.client.CoreV1().Services(ns).Delete(ctx, name, opts)
	case TypePVC:
		err = r.client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, name, opts)
	case TypeIngress:
		if r.cfg.IngressHost == "" {
			// Not listed, and the role may grant nothing on Ingresses.
			return berth.NotSupported(r.cfg.Target, "ingress resources (it sets no ingressHost)")
		}
		err = r.client.NetworkingV1().Ingresses(ns).Delete(ctx, name, opts)
	default:
		return berth.NotSupported(r.cfg.Target, "deleting "+typ+" resources")
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return r.apiError(err, "%s", what)
	}
	return nil
}

// ResourceAction starts or stops a Deployment or StatefulSet as berth
// stops a service: scale to 0 remembering the count, then back.
func (r *Runtime) ResourceAction(ctx context.Context, typ, id, action string) error {
	ns, name, err := r.inventoryID(id)
	if err != nil {
		return err
	}
	if action != "start" && action != "stop" {
		return berth.Invalid("action", "%q is neither start nor stop", action)
	}
	if typ != TypeDeployment && typ != TypeStatefulSet {
		return berth.NotSupported(r.cfg.Target, action+" of "+typ+" resources")
	}
	if err := r.waitSynced(ctx); err != nil {
		return err
	}
	// StopService and StartService act on the Deployment of that name
	// first, then the StatefulSet: make sure that is the object meant.
	i := r.listerIndex(ns)
	_, derr := r.deploys[i].Deployments(ns).Get(name)
	_, serr := r.sets[i].StatefulSets(ns).Get(name)
	switch {
	case typ == TypeDeployment && derr != nil:
		return berth.NotFound(TypeDeployment, id)
	case typ == TypeStatefulSet && serr != nil:
		return berth.NotFound(TypeStatefulSet, id)
	case typ == TypeStatefulSet && derr == nil:
		return berth.Errorf(berth.ECONFLICT, "%s statefulset %s on target %s: a deployment of the same name shadows it",
			action, id, r.cfg.Target)
	}
	ref := berth.ServiceRef{Target: r.cfg.Target, Namespace: ns, Name: name}
	if action == "stop" {
		return r.StopService(ctx, ref)
	}
	return r.StartService(ctx, ref)
}
