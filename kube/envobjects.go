package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// DefaultWorkspaceImage is Dev8's workspace image (code-server on IDEPort),
// as on ACI targets.
const DefaultWorkspaceImage = "vaibhavsing/dev8-workspace:latest"

// DefaultURLTemplate reaches an environment through its Service from inside
// the cluster.
const DefaultURLTemplate = "http://{name}.{namespace}.svc:{port}"

const (
	kindEnvironment = "environment"
	// annotationStartedAt marks a workspace that was started after a stop:
	// while it is not ready it is STARTING, not CREATING.
	annotationStartedAt = "berth.dev/started-at"
	// annotationSecretsVersion on the pod template is the resource version
	// of the Secret: a change of a secret restarts the workspace (variables
	// are read at container start) without putting any value in the spec.
	annotationSecretsVersion = "berth.dev/secrets-version" // #nosec G101 -- an annotation name, not a credential
	workspaceContainer       = "workspace"
	workspaceVolume          = "workspace"
	idePortName              = "ide"
)

// envRef names the Kubernetes objects of one environment.
type envRef struct {
	id, ns  string
	name    string // Deployment, Service and PVC
	secret  string
	idLabel string // the value of berth.dev/id
}

// envRef derives object names from the environment id, never from its
// free-text name. Core's ids ("env-" + 10 alphanumerics) are used as they
// are; anything else is folded into a DNS-1035 label with a hash suffix so
// that two ids never share a name.
func (r *Runtime) envRef(env *berth.Environment) (envRef, error) {
	if env.ID == "" {
		return envRef{}, berth.Invalid("id", "an environment id is required")
	}
	name := env.ID
	if len(validation.IsDNS1035Label(name)) > 0 {
		var b strings.Builder
		for _, c := range strings.ToLower(env.ID) {
			if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
				b.WriteRune(c)
			} else {
				b.WriteByte('-')
			}
		}
		sum := sha256.Sum256([]byte(env.ID))
		base := strings.Trim(b.String(), "-")
		if len(base) > 40 {
			base = strings.TrimRight(base[:40], "-")
		}
		name = "env-" + base + "-" + hex.EncodeToString(sum[:4])
	}
	idLabel := env.ID
	if len(validation.IsValidLabelValue(idLabel)) > 0 {
		idLabel = name
	}
	return envRef{id: env.ID, ns: r.cfg.EnvNamespace, name: name, secret: name + "-secrets", idLabel: idLabel}, nil
}

func (e envRef) String() string { return e.ns + "/" + e.name }

// labels of every object of the environment.
func (e envRef) labels(owner string) map[string]string {
	l := map[string]string{LabelManagedBy: ManagedBy, LabelKind: kindEnvironment, LabelID: e.idLabel}
	if owner != "" && len(validation.IsValidLabelValue(owner)) == 0 {
		l[LabelOwner] = owner
	}
	return l
}

// selector of the workspace pod; immutable once the Deployment exists.
func (e envRef) selector() map[string]string {
	return map[string]string{LabelKind: kindEnvironment, LabelID: e.idLabel}
}

// owns says whether berth made obj for this environment: an object of the
// same name that belongs to someone else, or to a berth service, is a conflict.
func (e envRef) owns(obj metav1.Object) bool {
	l := obj.GetLabels()
	return isManaged(obj) && l[LabelKind] == kindEnvironment && l[LabelID] == e.idLabel
}

// url fills the target's URL template.
func (r *Runtime) envURL(e envRef) string {
	return strings.NewReplacer("{name}", e.name, "{namespace}", e.ns, "{id}", e.id,
		"{port}", strconv.Itoa(int(r.cfg.IDEPort))).Replace(r.cfg.URLTemplate)
}

// workspaceImage picks the image as ACI targets do (berth.Environment.WorkspaceImage).
func (r *Runtime) workspaceImage(env *berth.Environment) (string, error) {
	return env.WorkspaceImage(r.cfg.Target, r.cfg.WorkspaceImage, r.cfg.Templates)
}

// envVars splits the workspace's variables into plain values and secret
// ones, with the names ACI targets use.
func (r *Runtime) envVars(env *berth.Environment) (plain, secret map[string]string) {
	return env.WorkspaceVars(r.cfg.WorkspacePath, r.cfg.AgentBaseURL)
}

// resources: cpuCores and memoryGB are requested, and memory is the limit
// too (a workspace past it is killed, as on ACI).
func envResources(env *berth.Environment) corev1.ResourceRequirements {
	cpu, mem := env.CPUCores, env.MemoryGB
	if cpu <= 0 {
		cpu = berth.DefaultCPUCores
	}
	if mem <= 0 {
		mem = berth.DefaultMemoryGB
	}
	memQ := *resource.NewQuantity(int64(mem)<<30, resource.BinarySI)
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(cpu), resource.DecimalSI), corev1.ResourceMemory: memQ},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: memQ},
	}
}

// workspaceTemplate is the desired pod template. secretsVersion is the
// Secret's resource version, "" when the environment has no secret.
func (r *Runtime) workspaceTemplate(e envRef, env *berth.Environment, image string, secretKeys []string, secretsVersion string) corev1.PodTemplateSpec {
	plain, _ := r.envVars(env)
	c := corev1.Container{
		Name:         workspaceContainer,
		Image:        image,
		Resources:    envResources(env),
		Ports:        []corev1.ContainerPort{{Name: idePortName, ContainerPort: r.cfg.IDEPort, Protocol: corev1.ProtocolTCP}},
		VolumeMounts: []corev1.VolumeMount{{Name: workspaceVolume, MountPath: r.cfg.WorkspacePath}},
		// Ready once the IDE listens.
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(idePortName)}},
			PeriodSeconds: 5, FailureThreshold: 3},
	}
	for _, k := range sortedKeys(plain) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: plain[k]})
	}
	for _, k := range secretKeys {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: e.secret}, Key: k,
		}}})
	}
	annotations := map[string]string{}
	if secretsVersion != "" {
		annotations[annotationSecretsVersion] = secretsVersion
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: merged(e.labels(env.UserID), e.selector()), Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{c},
			Volumes: []corev1.Volume{{Name: workspaceVolume, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: e.name},
			}}},
			// A workspace has no business with the Kubernetes API, and
			// service links would flood its environment.
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			SecurityContext:              r.workspaceSecurityContext(),
			ImagePullSecrets:             r.pullSecrets(),
		},
	}
}

// workspaceSecurityContext gives the claim to WorkspaceFSGroup: volumes are
// mounted root-owned, and workspace images usually run as a non-root user
// (code-server's as uid 1000). OnRootMismatch skips the recursive chown
// when the root of the volume already has the group, so a big workspace
// starts fast. nil without a group: the API server defaults it to {}.
func (r *Runtime) workspaceSecurityContext() *corev1.PodSecurityContext {
	if r.cfg.WorkspaceFSGroup == 0 {
		return nil
	}
	return &corev1.PodSecurityContext{FSGroup: ptr.To(r.cfg.WorkspaceFSGroup),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch)}
}

// pullSecrets are the pods' imagePullSecrets: nil when the target has none,
// as the live template then has none either (no needless update).
func (r *Runtime) pullSecrets() []corev1.LocalObjectReference {
	var out []corev1.LocalObjectReference
	for _, name := range r.cfg.ImagePullSecrets {
		out = append(out, corev1.LocalObjectReference{Name: name})
	}
	return out
}

// applyWorkspace sets what berth owns on d (new or existing). Recreate,
// because the ReadWriteOnce claim cannot be mounted by an old and a new pod
// on different nodes at once.
func applyWorkspace(d *appsv1.Deployment, e envRef, env *berth.Environment, tmpl corev1.PodTemplateSpec, now string) {
	existed := d.Spec.Replicas != nil
	wasStopped := existed && *d.Spec.Replicas == 0
	d.Labels = merged(d.Labels, e.labels(env.UserID))
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Spec.Selector == nil {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: e.selector()}
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	d.Spec.Template = tmpl
	replicas := int32(1)
	if env.Stopped {
		replicas = 0
		if _, ok := d.Annotations[AnnotationStoppedAt]; !ok {
			d.Annotations[AnnotationStoppedAt] = now
		}
	} else {
		delete(d.Annotations, AnnotationStoppedAt)
		if wasStopped {
			d.Annotations[annotationStartedAt] = now
		}
	}
	d.Spec.Replicas = &replicas
}

// CheckEnvironment refuses an environment whose template the target does
// not have, before core stores anything.
func (r *Runtime) CheckEnvironment(env *berth.Environment) error {
	_, err := r.workspaceImage(env)
	return err
}
