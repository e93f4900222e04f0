package kube_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// envRuntime is a runtime on the test's namespace with environment settings.
func (e *env) envRuntime(t *testing.T, cfg kube.Config) *kube.Runtime {
	t.Helper()
	cfg.Target, cfg.Kubeconfig, cfg.Namespaces = "k8s", e.c.Kubeconfig, []string{e.ns}
	rt, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	return rt
}

// staticVolume makes a hostPath PersistentVolume bound in advance to the
// claim ns/claim: the test cluster has no provisioner, and a pod whose
// claim is unbound is never scheduled.
func (e *env) staticVolume(t *testing.T, claim, class string, gb int) *corev1.PersistentVolume {
	t.Helper()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-" + e.ns + "-" + claim},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(fmt.Sprintf("%dGi", gb))},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			ClaimRef:                      &corev1.ObjectReference{Namespace: e.ns, Name: claim},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/tmp/berth-test/" + e.ns + "/" + claim,
			}},
		},
	}
	pv, err := e.c.Client.CoreV1().PersistentVolumes().Create(t.Context(), pv, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create persistent volume: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.c.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	})
	return pv
}

// waitEnv polls EnvironmentState until want accepts it.
func waitEnv(t *testing.T, rt *kube.Runtime, env *berth.Environment, want func(*berth.EnvironmentState) error) *berth.EnvironmentState {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var st *berth.EnvironmentState
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		var err error
		if st, err = rt.EnvironmentState(ctx, env); err != nil {
			return err
		}
		return want(st)
	})
	if err != nil {
		t.Fatalf("environment %s: %v (state %+v)", env.ID, err, st)
	}
	return st
}

func envStatus(s berth.EnvStatus) func(*berth.EnvironmentState) error {
	return func(st *berth.EnvironmentState) error {
		if st.Status != s {
			return fmt.Errorf("status %s (%s), want %s", st.Status, st.Message, s)
		}
		return nil
	}
}

// until polls check for up to 60 s.
func until(t *testing.T, what string, check func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := kubetest.Eventually(ctx, check); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var envSecretValues = []string{"ghp_kubeSECRETgithub", "kube-SECRET-password", "sk-ant-kubeSECRET", "kube-SECRET-activity-token"}

func devEnvironment(id string) *berth.Environment {
	return &berth.Environment{
		ID: id, UserID: "usr-1", Name: "My Dev Environment", Target: "k8s",
		CPUCores: 2, MemoryGB: 4, StorageGB: 20, BaseImage: "node",
		GitUserName: "John Doe", GitUserEmail: "john@example.com",
		Env: map[string]string{"EDITOR": "vim", "BERTH_ACTIVITY_TOKEN": "kube-SECRET-activity-token"},
		Secrets: berth.EnvSecrets{GithubToken: "ghp_kubeSECRETgithub", CodeServerPassword: "kube-SECRET-password",
			AnthropicAPIKey: "sk-ant-kubeSECRET"},
	}
}

// TestEnvironmentLifecycle: create → the four objects with berth's labels,
// secrets only in the Secret, the URL from the template, RUNNING; apply
// again changes nothing; stop keeps the claim; start mounts the same
// claim; delete removes everything, the claim too.
func TestEnvironmentLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{URLTemplate: "https://{id}.dev.example.com/?ns={namespace}&obj={name}"})
	env := devEnvironment("env-life00001")
	e.staticVolume(t, env.ID, "", 20)
	ctx := t.Context()

	st, err := rt.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	wantURL := "https://env-life00001.dev.example.com/?ns=" + e.ns + "&obj=env-life00001"
	if st.URL != wantURL || (st.Status != berth.EnvCreating && st.Status != berth.EnvRunning) {
		t.Errorf("apply answered %+v, want CREATING or RUNNING at %s", st, wantURL)
	}
	waitEnv(t, rt, env, envStatus(berth.EnvRunning))

	// Every object carries berth's labels (read with client-go, not through berth).
	client := e.c.Client
	d := e.deployment(t, env.ID)
	pvc, err := client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, env.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	sec, err := client.CoreV1().Secrets(e.ns).Get(ctx, env.ID+"-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("secret: %v", err)
	}
	svc, err := client.CoreV1().Services(e.ns).Get(ctx, env.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	wantLabels := map[string]string{kube.LabelManagedBy: "berth", kube.LabelKind: "environment", kube.LabelID: env.ID, kube.LabelOwner: "usr-1"}
	for _, obj := range []metav1.Object{d, pvc, sec, svc, &d.Spec.Template} {
		for k, v := range wantLabels {
			if obj.GetLabels()[k] != v {
				t.Errorf("%T %s: label %s = %q, want %q", obj, obj.GetName(), k, obj.GetLabels()[k], v)
			}
		}
	}

	// The Deployment: one replica, Recreate, the workspace image, sized from the request.
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d strategy %s, want 1 Recreate", *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != kube.DefaultWorkspaceImage {
		t.Errorf("image %q, want %q (baseImage %q is a flavour, not a reference)", c.Image, kube.DefaultWorkspaceImage, env.BaseImage)
	}
	if cpu, mem := c.Resources.Requests[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceMemory]; cpu.Cmp(resource.MustParse("2")) != 0 || mem.Cmp(resource.MustParse("4Gi")) != 0 {
		t.Errorf("requests cpu %s memory %s, want 2 and 4Gi", cpu.String(), mem.String())
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/workspace" ||
		d.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim == nil || d.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != env.ID {
		t.Errorf("mounts %+v volumes %+v, want claim %s at /workspace", c.VolumeMounts, d.Spec.Template.Spec.Volumes, env.ID)
	}
	vars := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		vars[v.Name] = v
	}
	for k, want := range map[string]string{"EDITOR": "vim", "GIT_USER_NAME": "John Doe", "GIT_USER_EMAIL": "john@example.com",
		"ENVIRONMENT_ID": env.ID, "WORKSPACE_DIR": "/workspace", "BASE_IMAGE": "node"} {
		if vars[k].Value != want {
			t.Errorf("env %s = %+v, want %q", k, vars[k], want)
		}
	}
	for _, k := range []string{"GITHUB_TOKEN", "PASSWORD", "CODE_SERVER_PASSWORD", "ANTHROPIC_API_KEY", "BERTH_ACTIVITY_TOKEN"} {
		ref := vars[k].ValueFrom
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != env.ID+"-secrets" || ref.SecretKeyRef.Key != k || vars[k].Value != "" {
			t.Errorf("env %s = %+v, want a reference to key %s of Secret %s-secrets", k, vars[k], k, env.ID)
		}
		if string(sec.Data[k]) == "" {
			t.Errorf("secret lacks %s", k)
		}
	}
	raw, _ := json.Marshal(d)
	for _, v := range envSecretValues {
		if strings.Contains(string(raw), v) {
			t.Errorf("the Deployment holds a secret value (%q…)", v[:6])
		}
	}
	if string(sec.Data["GITHUB_TOKEN"]) != "ghp_kubeSECRETgithub" || string(sec.Data["BERTH_ACTIVITY_TOKEN"]) != "kube-SECRET-activity-token" {
		t.Errorf("secret data keys %v hold the wrong values", keysOf(sec.Data))
	}

	// The claim: 20 GiB ReadWriteOnce, the cluster's default class (none given).
	if got := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; got.Cmp(resource.MustParse("20Gi")) != 0 ||
		len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteOnce || pvc.Spec.StorageClassName != nil {
		t.Errorf("claim spec %+v, want 20Gi ReadWriteOnce without a class", pvc.Spec)
	}
	if got := e.kubectl(t, "get", "service", env.ID, "-o", "jsonpath={.spec.type} {.spec.ports[0].port} {.spec.selector.berth\\.dev/id}"); got != "ClusterIP 8080 "+env.ID {
		t.Errorf("kubectl get service = %q", got)
	}

	// The same desired state again writes nothing that rolls the workspace.
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if got := e.deployment(t, env.ID); got.Generation != d.Generation {
		t.Errorf("re-applying bumped the generation %d → %d", d.Generation, got.Generation)
	}
	if s, _ := client.CoreV1().Secrets(e.ns).Get(ctx, sec.Name, metav1.GetOptions{}); s.ResourceVersion != sec.ResourceVersion {
		t.Errorf("re-applying rewrote the secret")
	}

	// Stop: no pod, the claim stays (same UID).
	if err := rt.StopEnvironment(ctx, env); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got := e.deployment(t, env.ID); *got.Spec.Replicas != 0 {
		t.Errorf("replicas after stop = %d", *got.Spec.Replicas)
	}
	waitEnv(t, rt, env, envStatus(berth.EnvStopped))
	if pods := e.workspacePods(t, env.ID); len(pods) != 0 {
		t.Errorf("%d pods after stop", len(pods))
	}
	if err := rt.StopEnvironment(ctx, env); err != nil {
		t.Errorf("stop again: %v", err)
	}
	e.sameClaim(t, pvc)

	// Start: one pod again, mounting the same claim.
	if err := rt.StartEnvironment(ctx, env); err != nil {
		t.Fatalf("start: %v", err)
	}
	if got := e.deployment(t, env.ID); *got.Spec.Replicas != 1 {
		t.Errorf("replicas after start = %d", *got.Spec.Replicas)
	}
	waitEnv(t, rt, env, envStatus(berth.EnvRunning))
	pods := e.workspacePods(t, env.ID)
	if len(pods) != 1 {
		t.Fatalf("%d pods after start, want 1", len(pods))
	}
	if v := pods[0].Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != env.ID {
		t.Errorf("pod volumes %+v, want claim %s", v, env.ID)
	}
	e.sameClaim(t, pvc)

	// Delete: everything goes, the claim too; again is fine.
	if err := rt.DeleteEnvironment(ctx, env, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	until(t, "every object deleted", func(ctx context.Context) error {
		return e.gone(ctx, env.ID, true)
	})
	if _, err := rt.EnvironmentState(ctx, env); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("state after delete: %v, want NOT_FOUND", err)
	}
	if err := rt.DeleteEnvironment(ctx, env, false); err != nil {
		t.Errorf("delete again: %v", err)
	}
}

// TestEnvironmentKeepVolume: an unbound claim keeps the environment
// CREATING and says why; the storage class comes from the target; delete
// with keepVolume keeps the claim, which a new apply mounts again.
func TestEnvironmentKeepVolume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	class := "slow-" + e.ns
	rt := e.envRuntime(t, kube.Config{StorageClass: class, WorkspaceImage: "ghcr.io/acme/workspace:2", IDEPort: 3000})
	env := devEnvironment("env-keep00001")
	env.StorageGB = 10
	ctx := t.Context()

	st, err := rt.ApplyEnvironment(ctx, env)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if st.URL != "http://env-keep00001."+e.ns+".svc:3000" {
		t.Errorf("default URL = %q", st.URL)
	}
	pvc, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, env.ID, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(pvc.Spec.StorageClassName, "") != class {
		t.Errorf("claim class %v, want %s", pvc.Spec.StorageClassName, class)
	}
	if got := e.deployment(t, env.ID).Spec.Template.Spec.Containers[0].Image; got != "ghcr.io/acme/workspace:2" {
		t.Errorf("image = %q, want the target's", got)
	}
	// No volume exists for the class: the pod cannot be scheduled.
	waitEnv(t, rt, env, func(st *berth.EnvironmentState) error {
		if st.Status != berth.EnvCreating || !strings.Contains(st.Message, "volume claim "+env.ID+" is Pending") {
			return fmt.Errorf("status %s %q, want CREATING waiting for the claim", st.Status, st.Message)
		}
		return nil
	})

	if err := rt.DeleteEnvironment(ctx, env, true); err != nil {
		t.Fatalf("delete keeping the volume: %v", err)
	}
	until(t, "workload deleted, claim kept", func(ctx context.Context) error {
		return e.gone(ctx, env.ID, false)
	})
	e.sameClaim(t, pvc)
	// Kept on purpose: marked so, and the inventory ties it to no
	// environment (core would otherwise report it orphaned).
	kept, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, env.ID, metav1.GetOptions{})
	if err != nil || kept.Annotations[kube.AnnotationKeptVolume] == "" {
		t.Fatalf("kept claim not marked: %v %v", kept.Annotations, err)
	}
	until(t, "inventory shows the kept claim", func(ctx context.Context) error {
		items, err := rt.Inventory(ctx)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Type == kube.TypePVC && it.Name == env.ID {
				if it.BerthKind != "" || it.Details["keptSince"] == nil {
					return fmt.Errorf("kept claim in the inventory: %+v", it)
				}
				return nil
			}
		}
		return fmt.Errorf("claim %s not in the inventory", env.ID)
	})

	// A volume of the class appears; the environment comes back on the kept claim.
	e.staticVolume(t, env.ID, class, 10)
	if _, err := rt.ApplyEnvironment(ctx, env); err != nil {
		t.Fatalf("apply on the kept claim: %v", err)
	}
	waitEnv(t, rt, env, envStatus(berth.EnvRunning))
	e.sameClaim(t, pvc)
	if back, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, env.ID, metav1.GetOptions{}); err != nil ||
		back.Annotations[kube.AnnotationKeptVolume] != "" {
		t.Errorf("claim in use again still marked kept: %v %v", back.Annotations, err)
	}
}

// TestEnvironmentConflict: objects of the environment's names that berth
// did not make for it refuse the create before anything is written, and
// are left alone by delete.
func TestEnvironmentConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		make  func(t *testing.T, name string)
		check func(t *testing.T, name string) // the foreign object is untouched
	}{
		{"foreign deployment", func(t *testing.T, name string) {
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To(int32(2)),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
						Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}},
			}
			if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, name string) {
			if d := e.deployment(t, name); *d.Spec.Replicas != 2 || d.Labels[kube.LabelManagedBy] != "" {
				t.Errorf("foreign deployment changed: replicas %d labels %v", *d.Spec.Replicas, d.Labels)
			}
		}},
		{"foreign claim", func(t *testing.T, name string) {
			c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
			if _, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, name string) {
			if _, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
				t.Errorf("foreign claim: %v", err)
			}
		}},
		{"berth service of that name", func(t *testing.T, name string) {
			svc := webService(1)
			svc.Name, svc.Namespace = name, e.ns
			if err := e.rt.ApplyService(t.Context(), svc); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, name string) {
			if d := e.deployment(t, name); d.Labels[kube.LabelKind] != "service" {
				t.Errorf("service's deployment relabelled: %v", d.Labels)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "env-" + strings.ReplaceAll(tc.name, " ", "")[:8]
			tc.make(t, name)
			// A new runtime: its caches fill with the object before the apply.
			rt := e.envRuntime(t, kube.Config{})
			env := devEnvironment(name)
			_, err := rt.ApplyEnvironment(t.Context(), env)
			if !berth.IsCode(err, berth.ECONFLICT) {
				t.Fatalf("apply over %s: %v, want CONFLICT", tc.name, err)
			}
			for _, v := range envSecretValues {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
			// Nothing of berth's was written for the environment.
			sel := metav1.ListOptions{LabelSelector: kube.LabelKind + "=environment," + kube.LabelID + "=" + name}
			if l, _ := e.c.Client.CoreV1().Secrets(e.ns).List(t.Context(), sel); len(l.Items) != 0 {
				t.Errorf("a secret was written: %v", l.Items[0].Name)
			}
			if l, _ := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).List(t.Context(), sel); len(l.Items) != 0 {
				t.Errorf("a claim was written")
			}
			if err := rt.DeleteEnvironment(t.Context(), env, false); err != nil {
				t.Errorf("delete: %v", err)
			}
			tc.check(t, name)
		})
	}
}

// TestEnvironmentImages: a full baseImage wins, then the template, then
// the target's image; an unknown template is INVALID before anything is made.
func TestEnvironmentImages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{WorkspaceImage: "acme/ws:1", Templates: map[string]string{"python": "acme/ws-python:3"}})
	for i, tc := range []struct {
		baseImage, template, want string
		code                      berth.Code
	}{
		{"", "", "acme/ws:1", ""},
		{"node", "", "acme/ws:1", ""},
		{"", "python", "acme/ws-python:3", ""},
		{"ghcr.io/me/ws:9", "python", "ghcr.io/me/ws:9", ""},
		{"", "ruby", "", berth.EINVALID},
	} {
		env := devEnvironment(fmt.Sprintf("env-image%05d", i))
		env.BaseImage, env.Template = tc.baseImage, tc.template
		_, err := rt.ApplyEnvironment(t.Context(), env)
		if tc.code != "" {
			if !berth.IsCode(err, tc.code) || !strings.Contains(err.Error(), "python") {
				t.Errorf("%+v: %v, want %s naming the templates", tc, err, tc.code)
			}
			if _, err := e.c.Client.AppsV1().Deployments(e.ns).Get(t.Context(), env.ID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("%+v: a deployment was made: %v", tc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if got := e.deployment(t, env.ID).Spec.Template.Spec.Containers[0].Image; got != tc.want {
			t.Errorf("%+v: image %q, want %q", tc, got, tc.want)
		}
	}
}

// TestEnvironmentSecretChange: a new secret value restarts the workspace
// (a new pod template) without the value reaching the Deployment.
func TestEnvironmentSecretChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{})
	env := devEnvironment("env-secret0001")
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	before := e.deployment(t, env.ID)
	env.Secrets.GithubToken = "ghp_kubeSECRETrotated"
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	after := e.deployment(t, env.ID)
	if after.Generation == before.Generation {
		t.Errorf("a changed secret did not change the pod template")
	}
	raw, _ := json.Marshal(after)
	if strings.Contains(string(raw), "ghp_kubeSECRETrotated") {
		t.Errorf("the Deployment holds the new secret value")
	}
	sec, err := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), env.ID+"-secrets", metav1.GetOptions{})
	if err != nil || string(sec.Data["GITHUB_TOKEN"]) != "ghp_kubeSECRETrotated" {
		t.Errorf("secret after rotation: %v", err)
	}
	// Without any secret the Secret goes and nothing refers to it.
	env.Secrets, env.Env = berth.EnvSecrets{}, nil
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), env.ID+"-secrets", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret still there: %v", err)
	}
	for _, v := range e.deployment(t, env.ID).Spec.Template.Spec.Containers[0].Env {
		if v.ValueFrom != nil {
			t.Errorf("env %s still refers to a secret", v.Name)
		}
	}
}

func (e *env) workspacePods(t *testing.T, id string) []corev1.Pod {
	t.Helper()
	l, err := e.c.Client.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: kube.LabelID + "=" + id})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// sameClaim checks the claim is still the one first made.
func (e *env) sameClaim(t *testing.T, want *corev1.PersistentVolumeClaim) {
	t.Helper()
	got, err := e.c.Client.CoreV1().PersistentVolumeClaims(e.ns).Get(t.Context(), want.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim %s: %v", want.Name, err)
	}
	if got.UID != want.UID || got.DeletionTimestamp != nil {
		t.Errorf("claim %s: uid %s → %s, deleting %v", want.Name, want.UID, got.UID, got.DeletionTimestamp != nil)
	}
}

// gone checks that the workload objects (and the claim, when claim) no
// longer exist.
func (e *env) gone(ctx context.Context, name string, claim bool) error {
	cl := e.c.Client
	checks := map[string]func() error{
		"deployment": func() error { _, err := cl.AppsV1().Deployments(e.ns).Get(ctx, name, metav1.GetOptions{}); return err },
		"service":    func() error { _, err := cl.CoreV1().Services(e.ns).Get(ctx, name, metav1.GetOptions{}); return err },
		"secret": func() error {
			_, err := cl.CoreV1().Secrets(e.ns).Get(ctx, name+"-secrets", metav1.GetOptions{})
			return err
		},
		"pods": func() error {
			l, err := cl.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelID + "=" + name})
			if err == nil && len(l.Items) > 0 {
				return nil
			}
			return apierrors.NewNotFound(corev1.Resource("pods"), name)
		},
	}
	if claim {
		checks["claim"] = func() error {
			_, err := cl.CoreV1().PersistentVolumeClaims(e.ns).Get(ctx, name, metav1.GetOptions{})
			return err
		}
	}
	for what, get := range checks {
		if err := get(); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s %s still there (%v)", what, name, err)
		}
	}
	return nil
}

func keysOf(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEnvironmentError: a workspace that cannot start within the
// Deployment's progress deadline is ERROR with the reason.
func TestEnvironmentError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{})
	env := devEnvironment("env-error00001")
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	// No volume binds the claim, so the pod never schedules; an operator
	// shortened the deadline (berth leaves that field alone).
	patch := []byte(`{"spec":{"progressDeadlineSeconds":1}}`)
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Patch(t.Context(), env.ID, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	st := waitEnv(t, rt, env, envStatus(berth.EnvError))
	if !strings.HasPrefix(st.Message, "ProgressDeadlineExceeded") {
		t.Errorf("message = %q, want the ProgressDeadlineExceeded reason", st.Message)
	}
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	if d := e.deployment(t, env.ID); ptr.Deref(d.Spec.ProgressDeadlineSeconds, 0) != 1 {
		t.Errorf("apply reset progressDeadlineSeconds to %v", d.Spec.ProgressDeadlineSeconds)
	}
}

// TestEnvironmentLogs: the workspace pod's log, as the kubelet (kwok here)
// serves it through the API server.
func TestEnvironmentLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := e.envRuntime(t, kube.Config{})
	env := devEnvironment("env-logs000001")
	e.staticVolume(t, env.ID, "", 20)
	if _, err := rt.ApplyEnvironment(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	waitEnv(t, rt, env, envStatus(berth.EnvRunning))
	file := kubetest.NewLogFile(t)
	at := time.Now().UTC().Add(-time.Minute)
	file.Append(t, at, "code-server listening on 0.0.0.0:8080")
	file.Append(t, at.Add(time.Second), "workspace ready")
	e.c.ServeNamespaceLogs(t, e.ns, file, nil)
	pods := e.workspacePods(t, env.ID)
	if len(pods) != 1 {
		t.Fatalf("%d pods", len(pods))
	}
	e.c.WaitLogs(t, e.ns, pods[0].Name, "workspace")

	var got []string
	err := rt.EnvironmentLogs(t.Context(), env, berth.LogOptions{Tail: 1}, func(l berth.LogLine) error {
		got = append(got, l.Replica+": "+l.Line)
		return nil
	})
	if err != nil || strings.Join(got, "\n") != pods[0].Name+": workspace ready" {
		t.Errorf("logs tail 1 = %q, %v", got, err)
	}
	if err := rt.EnvironmentLogs(t.Context(), devEnvironment("env-nologs0001"), berth.LogOptions{}, func(berth.LogLine) error { return nil }); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("logs of a missing environment: %v, want NOT_FOUND", err)
	}
}
