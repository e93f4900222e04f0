package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strconv"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ConfigDir is where a service's config files are mounted in its containers
// (also given as $BERTH_CONFIG_DIR, as on the local runtime).
const ConfigDir = "/etc/berth/config"

func secretName(svc string) string { return svc + "-secrets" }
func configName(svc string) string { return svc + "-config" }

// objectLabels are the labels of everything berth creates for a service.
func objectLabels(svc *berth.Service) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelKind: "service", LabelID: svc.Name}
	// An owner that is no valid label value stays off the labels (it is in the store).
	if svc.Owner != "" && len(validation.IsValidLabelValue(svc.Owner)) == 0 {
		l[LabelOwner] = svc.Owner
	}
	return l
}

// selector is immutable once the Deployment exists: keep it minimal.
func selector(name string) map[string]string {
	return map[string]string{LabelKind: "service", LabelID: name}
}

// configKey maps a file name (which may hold "/") to a valid ConfigMap key.
func configKey(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "f-" + hex.EncodeToString(sum[:8])
}

// quantities parses the spec's resources strictly.
func quantities(r berth.Resources) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for field, v := range map[string]string{"cpu": r.CPU, "memory": r.Memory} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, berth.Invalid("resources."+field, "%q is not a Kubernetes quantity", v)
		}
		out[corev1.ResourceName(field)] = q
	}
	return out, nil
}

func portName(p berth.Port) string {
	if p.Name != "" {
		return p.Name
	}
	return "p" + strconv.Itoa(p.Port)
}

// podTemplate is the desired pod template of a service.
func podTemplate(svc *berth.Service) (corev1.PodTemplateSpec, error) {
	spec := svc.Spec
	if spec.Image == "" {
		return corev1.PodTemplateSpec{}, berth.Invalid("image", "is required on a Kubernetes target")
	}
	requests, err := quantities(spec.Resources)
	if err != nil {
		return corev1.PodTemplateSpec{}, err
	}
	c := corev1.Container{
		Name:       "app",
		Image:      spec.Image,
		Command:    slices.Clone(spec.Command),
		WorkingDir: spec.WorkingDir,
		Resources:  corev1.ResourceRequirements{Requests: requests},
	}
	for _, k := range sortedKeys(spec.Env) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	for _, k := range sortedKeys(spec.Secrets) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secretName(svc.Name)}, Key: k,
			},
		}})
	}
	for _, p := range spec.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: portName(p), ContainerPort: int32(p.Port), Protocol: corev1.ProtocolTCP}) // #nosec G115 -- ValidateServiceSpec bounds ports to 0..65535
	}
	if hc := spec.HealthCheck; hc != nil && len(spec.Ports) > 0 {
		port := portName(spec.Ports[0])
		if hc.Port != "" {
			port = hc.Port
		}
		probe := &corev1.Probe{PeriodSeconds: 10, FailureThreshold: 3}
		if hc.HTTP != "" {
			probe.HTTPGet = &corev1.HTTPGetAction{Path: hc.HTTP, Port: intstr.FromString(port)}
		} else {
			probe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromString(port)}
		}
		c.ReadinessProbe = probe
	}
	annotations := map[string]string{AnnotationRevision: strconv.Itoa(svc.Revision)}
	var volumes []corev1.Volume
	if len(spec.Config.Files) > 0 {
		var items []corev1.KeyToPath
		h := sha256.New()
		for _, name := range sortedKeys(spec.Config.Files) {
			items = append(items, corev1.KeyToPath{Key: configKey(name), Path: name})
			h.Write([]byte(name + "\x00" + spec.Config.Files[name] + "\x00"))
		}
		// A change of a file rolls the pods, as a new revision does locally.
		annotations[AnnotationConfigHash] = hex.EncodeToString(h.Sum(nil))[:16]
		volumes = append(volumes, corev1.Volume{Name: "berth-config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: configName(svc.Name)}, Items: items,
			},
		}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "berth-config", MountPath: ConfigDir, ReadOnly: true})
		c.Env = append(c.Env, corev1.EnvVar{Name: "BERTH_CONFIG_DIR", Value: ConfigDir})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: objectLabels(svc), Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: volumes},
	}, nil
}

// applyDeployment sets what berth owns on d (new or existing), leaving the
// rest (selector, strategy, the restartedAt annotation) as it is.
func applyDeployment(d *appsv1.Deployment, svc *berth.Service, tmpl corev1.PodTemplateSpec, now string) {
	tmpl = *tmpl.DeepCopy() // retries reuse the caller's template
	d.Labels = merged(d.Labels, objectLabels(svc))
	d.Annotations = merged(d.Annotations, map[string]string{AnnotationRevision: strconv.Itoa(svc.Revision)})
	if d.Spec.Selector == nil {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: selector(svc.Name)}
	}
	tmpl.Labels = merged(tmpl.Labels, d.Spec.Selector.MatchLabels)
	// Keep a restart in effect: dropping the annotation would roll the pods again.
	if at, ok := d.Spec.Template.Annotations[AnnotationRestartedAt]; ok {
		tmpl.Annotations[AnnotationRestartedAt] = at
	}
	d.Spec.Template = tmpl
	replicas := int32(svc.Replicas) // #nosec G115 -- ValidateServiceSpec bounds replicas to 0..max-replicas
	if svc.Stopped {
		if _, ok := d.Annotations[AnnotationStoppedAt]; !ok {
			d.Annotations[AnnotationStoppedAt] = now
		}
		d.Annotations[AnnotationReplicasBeforeStop] = strconv.Itoa(svc.Replicas)
		replicas = 0
	} else {
		delete(d.Annotations, AnnotationStoppedAt)
		delete(d.Annotations, AnnotationReplicasBeforeStop)
	}
	d.Spec.Replicas = &replicas
}

func merged(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	maps.Copy(dst, src)
	return dst
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isManaged(m metav1.Object) bool { return m.GetLabels()[LabelManagedBy] == ManagedBy }

// specOf reads a service spec back from a pod template, for services berth
// did not create. Secret values are never read: only their names show.
func specOf(ns string, replicas int, tmpl corev1.PodTemplateSpec) berth.ServiceSpec {
	spec := berth.ServiceSpec{Namespace: ns, Replicas: &replicas}
	if len(tmpl.Spec.Containers) == 0 {
		return spec
	}
	c := tmpl.Spec.Containers[0]
	spec.Image, spec.Command, spec.WorkingDir = c.Image, c.Command, c.WorkingDir
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			if spec.Secrets == nil {
				spec.Secrets = map[string]string{}
			}
			spec.Secrets[e.Name] = berth.Redacted
		case e.ValueFrom == nil && e.Name != "BERTH_CONFIG_DIR":
			if spec.Env == nil {
				spec.Env = map[string]string{}
			}
			spec.Env[e.Name] = e.Value
		}
	}
	for _, p := range c.Ports {
		spec.Ports = append(spec.Ports, berth.Port{Name: p.Name, Port: int(p.ContainerPort)})
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		spec.Resources.CPU = q.String()
	}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		spec.Resources.Memory = q.String()
	}
	return spec
}
