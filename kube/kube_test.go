package kube_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/kubetest"
	"github.com/berthhq/berth/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// env is one test's namespace on the shared cluster and a runtime watching it.
type env struct {
	c  *kubetest.Cluster
	ns string
	rt *kube.Runtime
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	rt, err := kube.New(kube.Config{Target: "k8s", Kubeconfig: c.Kubeconfig, Namespaces: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	return &env{c: c, ns: ns, rt: rt}
}

func (e *env) ref(name string) berth.ServiceRef {
	return berth.ServiceRef{Target: "k8s", Namespace: e.ns, Name: name}
}

// waitState polls ServiceState until want accepts it.
func (e *env) waitState(t *testing.T, name string, want func(*berth.ServiceState) error) *berth.ServiceState {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var st *berth.ServiceState
	err := kubetest.Eventually(ctx, func(ctx context.Context) error {
		var err error
		if st, err = e.rt.ServiceState(ctx, e.ref(name)); err != nil {
			return err
		}
		return want(st)
	})
	if err != nil {
		t.Fatalf("service %s: %v (state %+v)", name, err, st)
	}
	return st
}

func running(replicas int) func(*berth.ServiceState) error {
	return func(st *berth.ServiceState) error {
		if st.Status != berth.ServiceRunning || st.ReadyReplicas != replicas || st.Replicas != replicas {
			return fmt.Errorf("status %s, %d/%d ready, want RUNNING %d/%d", st.Status, st.ReadyReplicas, st.Replicas, replicas, replicas)
		}
		return nil
	}
}

func (e *env) deployment(t *testing.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := e.c.Client.AppsV1().Deployments(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

func (e *env) kubectl(t *testing.T, args ...string) string {
	t.Helper()
	return e.c.Kubectl(t, append([]string{"-n", e.ns}, args...)...)
}

func webService(replicas int) *berth.Service {
	return &berth.Service{
		Name: "web", Target: "k8s", Replicas: replicas, Revision: 1, Owner: "usr-1",
		Spec: berth.ServiceSpec{
			Image:     "nginx:1.27",
			Command:   []string{"nginx", "-g", "daemon off;"},
			Env:       map[string]string{"MODE": "prod"},
			Secrets:   map[string]string{"API_TOKEN": "s3cret-value"},
			Ports:     []berth.Port{{Name: "http", Port: 8080}},
			Resources: berth.Resources{CPU: "100m", Memory: "64Mi"},
			Config:    berth.Config{Files: map[string]string{"app.yaml": "level: debug\n"}},
		},
	}
}

func TestApplyServiceCreatesObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := webService(2)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	st := e.waitState(t, "web", func(st *berth.ServiceState) error {
		if err := running(2)(st); err != nil {
			return err
		}
		if len(st.Instances) != 2 {
			return fmt.Errorf("%d instances", len(st.Instances))
		}
		return nil
	})
	pods, err := e.c.Client.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "berth.dev/id=web"})
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range st.Instances {
		if in.Name != pods.Items[i].Name || !in.Ready || in.State != "running" || in.Revision != 1 {
			t.Errorf("instance %d = %+v, want pod %s ready, running, revision 1", i, in, pods.Items[i].Name)
		}
	}

	d := e.deployment(t, "web")
	for k, v := range map[string]string{kube.LabelManagedBy: "berth", kube.LabelKind: "service", kube.LabelID: "web", kube.LabelOwner: "usr-1"} {
		if d.Labels[k] != v {
			t.Errorf("deployment label %s = %q, want %q", k, d.Labels[k], v)
		}
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "nginx:1.27" || strings.Join(c.Command, " ") != "nginx -g daemon off;" {
		t.Errorf("container image %q command %q", c.Image, c.Command)
	}
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.Cmp(resource.MustParse("100m")) != 0 {
		t.Errorf("cpu request = %s, want 100m", got.String())
	}
	envs := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		envs[v.Name] = v
	}
	if envs["MODE"].Value != "prod" {
		t.Errorf("env MODE = %+v", envs["MODE"])
	}
	if ref := envs["API_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "web-secrets" || envs["API_TOKEN"].Value != "" {
		t.Errorf("env API_TOKEN = %+v, want a reference to Secret web-secrets", envs["API_TOKEN"])
	}
	sec, err := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), "web-secrets", metav1.GetOptions{})
	if err != nil || string(sec.Data["API_TOKEN"]) != "s3cret-value" || sec.Labels[kube.LabelManagedBy] != "berth" {
		t.Errorf("secret web-secrets: %v %v", err, sec)
	}
	cm, err := e.c.Client.CoreV1().ConfigMaps(e.ns).Get(t.Context(), "web-config", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("config map: %v", err)
	}
	var files []string
	for _, it := range d.Spec.Template.Spec.Volumes[0].ConfigMap.Items {
		files = append(files, it.Path+"="+cm.Data[it.Key])
	}
	if strings.Join(files, ",") != "app.yaml=level: debug\n" {
		t.Errorf("config files mounted = %q", files)
	}
	// kubectl sees the Service with its port, from outside this process.
	if got := e.kubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].name}:{.spec.ports[0].port}"); got != "http:8080" {
		t.Errorf("kubectl get service web = %q, want http:8080", got)
	}

	// The same desired state again changes nothing: no new rollout.
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply again: %v", err)
	}
	if got := e.deployment(t, "web"); got.Generation != d.Generation {
		t.Errorf("re-applying the same spec bumped the generation %d → %d", d.Generation, got.Generation)
	}

	// A new revision rolls out a new ReplicaSet; dropped ports and config
	// files remove the Service and the ConfigMap.
	svc.Revision, svc.Spec.Image, svc.Spec.Ports, svc.Spec.Config.Files = 2, "nginx:1.28", nil, nil
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply revision 2: %v", err)
	}
	e.waitState(t, "web", func(st *berth.ServiceState) error {
		if err := running(2)(st); err != nil {
			return err
		}
		if st.Revision != 2 {
			return fmt.Errorf("deployment revision %d, want 2", st.Revision)
		}
		return nil
	})
	if got := e.kubectl(t, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "nginx:1.28" {
		t.Errorf("kubectl image = %q", got)
	}
	if _, err := e.c.Client.CoreV1().Services(e.ns).Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Errorf("Service web still exists after its ports were removed")
	}
	if _, err := e.c.Client.CoreV1().ConfigMaps(e.ns).Get(t.Context(), "web-config", metav1.GetOptions{}); err == nil {
		t.Errorf("ConfigMap web-config still exists after the config files were removed")
	}

	if err := e.rt.DeleteService(t.Context(), e.ref("web")); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := e.rt.DeleteService(t.Context(), e.ref("web")); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if _, err := e.rt.ServiceState(t.Context(), e.ref("web")); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("state after delete: %v, want NOT_FOUND", err)
	}
	for _, get := range []func() error{
		func() error {
			_, err := e.c.Client.AppsV1().Deployments(e.ns).Get(t.Context(), "web", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := e.c.Client.CoreV1().Secrets(e.ns).Get(t.Context(), "web-secrets", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err == nil {
			t.Errorf("an object of web survived its deletion")
		}
	}
}

func TestScaleStopStartRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := webService(1)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e.waitState(t, "web", running(1))

	if err := e.rt.ScaleService(t.Context(), e.ref("web"), 3); err != nil {
		t.Fatalf("scale: %v", err)
	}
	if got := e.kubectl(t, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("kubectl replicas after scale = %q, want 3", got)
	}
	e.waitState(t, "web", running(3))

	for range 2 { // stopping twice keeps the remembered count
		if err := e.rt.StopService(t.Context(), e.ref("web")); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
	d := e.deployment(t, "web")
	if *d.Spec.Replicas != 0 || d.Annotations[kube.AnnotationReplicasBeforeStop] != "3" || d.Annotations[kube.AnnotationStoppedAt] == "" {
		t.Errorf("after stop: replicas %d, annotations %v", *d.Spec.Replicas, d.Annotations)
	}
	e.waitState(t, "web", func(st *berth.ServiceState) error {
		if st.Status != berth.ServiceStopped || !st.Stopped || st.Replicas != 3 || st.ReadyReplicas != 0 {
			return fmt.Errorf("state %+v, want STOPPED remembering 3 with none ready", st)
		}
		return nil
	})

	// Scaling a stopped service changes what start brings back.
	if err := e.rt.ScaleService(t.Context(), e.ref("web"), 2); err != nil {
		t.Fatalf("scale stopped: %v", err)
	}
	if got := e.kubectl(t, "get", "deploy", "web", "-o", `jsonpath={.spec.replicas}/{.metadata.annotations.berth\.dev/replicas-before-stop}`); got != "0/2" {
		t.Errorf("kubectl after scaling a stopped service = %q, want 0/2", got)
	}

	if err := e.rt.StartService(t.Context(), e.ref("web")); err != nil {
		t.Fatalf("start: %v", err)
	}
	d = e.deployment(t, "web")
	if *d.Spec.Replicas != 2 || d.Annotations[kube.AnnotationReplicasBeforeStop] != "" || d.Annotations[kube.AnnotationStoppedAt] != "" {
		t.Errorf("after start: replicas %d, annotations %v", *d.Spec.Replicas, d.Annotations)
	}
	e.waitState(t, "web", running(2))

	before := e.deployment(t, "web").Annotations["deployment.kubernetes.io/revision"]
	if err := e.rt.RestartService(t.Context(), e.ref("web")); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := e.deployment(t, "web").Spec.Template.Annotations[kube.AnnotationRestartedAt]; got == "" {
		t.Errorf("restart did not set %s on the pod template", kube.AnnotationRestartedAt)
	}
	e.waitState(t, "web", func(st *berth.ServiceState) error {
		if err := running(2)(st); err != nil {
			return err
		}
		if fmt.Sprint(st.Revision) == before {
			return fmt.Errorf("revision still %s: no new ReplicaSet", before)
		}
		return nil
	})
	// A later apply keeps the restart rather than rolling the pods back.
	gen := e.deployment(t, "web").Generation
	svc.Replicas = 2
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply after restart: %v", err)
	}
	if got := e.deployment(t, "web").Generation; got != gen {
		t.Errorf("apply after restart changed the deployment (generation %d → %d)", gen, got)
	}
}

// Workloads berth did not create are services too, and berth leaves them alone.
func TestUnmanagedWorkloads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	labels := map[string]string{"app": "legacy"}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1",
			Env: []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "p"}}}}}}},
	}
	_, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy"},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.c.Client.AppsV1().StatefulSets(e.ns).Create(t.Context(), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc := webService(1)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e.waitState(t, "db", running(1))
	e.waitState(t, "legacy", running(1))

	list, err := e.rt.ListServices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, fmt.Sprintf("%s/%s managed=%v %s", s.Namespace, s.Name, s.Managed, s.Spec.Image))
		if s.Name == "legacy" && s.Spec.Secrets["PASSWORD"] != berth.Redacted {
			t.Errorf("legacy secrets = %v, want PASSWORD redacted", s.Spec.Secrets)
		}
	}
	want := []string{e.ns + "/db managed=false busybox:1", e.ns + "/legacy managed=false busybox:1", e.ns + "/web managed=true nginx:1.27"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ListServices:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Stop and start work on a StatefulSet through its /scale subresource.
	if err := e.rt.StopService(t.Context(), e.ref("db")); err != nil {
		t.Fatalf("stop db: %v", err)
	}
	if got := e.kubectl(t, "get", "statefulset", "db", "-o", `jsonpath={.spec.replicas}/{.metadata.annotations.berth\.dev/replicas-before-stop}`); got != "0/1" {
		t.Errorf("kubectl db after stop = %q, want 0/1", got)
	}
	if err := e.rt.StartService(t.Context(), e.ref("db")); err != nil {
		t.Fatalf("start db: %v", err)
	}
	e.waitState(t, "db", running(1))

	legacy := &berth.Service{Name: "legacy", Namespace: e.ns, Replicas: 1, Revision: 1, Spec: berth.ServiceSpec{Image: "nginx:1.27"}}
	if err := e.rt.ApplyService(t.Context(), legacy); !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("apply over an unmanaged deployment: %v, want CONFLICT", err)
	}
	if err := e.rt.DeleteService(t.Context(), e.ref("legacy")); !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("delete of an unmanaged deployment: %v, want CONFLICT", err)
	}
	if got := e.deployment(t, "legacy").Spec.Template.Spec.Containers[0].Image; got != "busybox:1" {
		t.Errorf("legacy image = %q: berth changed a deployment it does not manage", got)
	}
}

// A rollout that cannot progress is an ERROR naming the reason.
func TestProgressDeadlineExceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	labels := map[string]string{"app": "huge"}
	_, err := e.c.Client.AppsV1().Deployments(e.ns).Create(t.Context(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "huge"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), ProgressDeadlineSeconds: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// More CPU than the fake node has: the pod never schedules.
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")}}}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := e.waitState(t, "huge", func(st *berth.ServiceState) error {
		if st.Status != berth.ServiceError {
			return fmt.Errorf("status %s", st.Status)
		}
		return nil
	})
	if !strings.HasPrefix(st.Message, "ProgressDeadlineExceeded") {
		t.Errorf("message = %q, want the ProgressDeadlineExceeded reason", st.Message)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.rt.ServiceState(t.Context(), e.ref("missing")); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("state of a missing service: %v, want NOT_FOUND", err)
	}
	if err := e.rt.ScaleService(t.Context(), e.ref("missing"), 2); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("scale of a missing service: %v, want NOT_FOUND", err)
	}
	other := berth.ServiceRef{Target: "k8s", Namespace: "kube-system", Name: "x"}
	if _, err := e.rt.ServiceState(t.Context(), other); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("state in an unwatched namespace: %v, want INVALID_REQUEST", err)
	}
	bad := webService(1)
	bad.Namespace, bad.Spec.Resources.CPU = e.ns, "lots"
	if err := e.rt.ApplyService(t.Context(), bad); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("apply with cpu %q: %v, want INVALID_REQUEST", "lots", err)
	}
}

// An unreachable API server answers UNAVAILABLE naming the target, fast.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	cfg := rest.CopyConfig(c.Config)
	cfg.Host = "https://127.0.0.1:1" // nothing listens on port 1
	rt, err := kube.New(kube.Config{Target: "far", Rest: cfg, Namespaces: []string{"default"}, SyncTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	ref := berth.ServiceRef{Target: "far", Namespace: "default", Name: "web"}
	svc := webService(1)
	svc.Namespace = "default"
	for name, call := range map[string]func() error{
		"ping":  func() error { return rt.Ping(t.Context()) },
		"state": func() error { _, err := rt.ServiceState(t.Context(), ref); return err },
		"list":  func() error { _, err := rt.ListServices(t.Context()); return err },
		"apply": func() error { return rt.ApplyService(t.Context(), svc) },
		"scale": func() error { return rt.ScaleService(t.Context(), ref, 2) },
	} {
		err := call()
		if !berth.IsCode(err, berth.EUNAVAILABLE) || !strings.Contains(berth.ErrorMessage(err), `target "far"`) {
			t.Errorf("%s: %v, want UNAVAILABLE naming target \"far\"", name, err)
		}
		if strings.Contains(fmt.Sprint(err), "s3cret-value") {
			t.Errorf("%s: error shows a secret value: %v", name, err)
		}
	}
}

// When the API server stops answering after the caches filled, reads stop
// serving the stale cache and answer UNAVAILABLE; they recover with it.
func TestAPIServerGoesAway(t *testing.T) {
	e := newEnv(t)
	svc := webService(1)
	svc.Namespace = e.ns
	if err := e.rt.ApplyService(t.Context(), svc); err != nil {
		t.Fatalf("apply: %v", err)
	}
	p := newProxy(t, strings.TrimPrefix(e.c.Config.Host, "https://"))
	cfg := rest.CopyConfig(e.c.Config)
	cfg.Host = "https://" + p.addr()
	rt, err := kube.New(kube.Config{Target: "via-proxy", Rest: cfg, Namespaces: []string{e.ns},
		SyncTimeout: time.Second, HealthInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rt.Start(t.Context())
	ref := berth.ServiceRef{Target: "via-proxy", Namespace: e.ns, Name: "web"}
	if _, err := rt.ServiceState(t.Context(), ref); err != nil {
		t.Fatalf("state through the proxy: %v", err)
	}
	p.setDown(true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err = kubetest.Eventually(ctx, func(ctx context.Context) error {
		_, err := rt.ServiceState(ctx, ref)
		if !berth.IsCode(err, berth.EUNAVAILABLE) || !strings.Contains(berth.ErrorMessage(err), `target "via-proxy"`) {
			return fmt.Errorf("state: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the API server went away: %v, want UNAVAILABLE naming the target", err)
	}
	p.setDown(false)
	err = kubetest.Eventually(ctx, func(ctx context.Context) error {
		_, err := rt.ServiceState(ctx, ref)
		return err
	})
	if err != nil {
		t.Fatalf("after the API server came back: %v", err)
	}
}

// proxy forwards TCP to the API server and can drop every connection.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.setDown(true) })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// Rollback has `kubectl rollout undo` semantics, checked with kubectl.
func TestRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := webService(1)
	svc.Namespace = e.ns
	for i, image := range []string{"nginx:1.27", "nginx:1.28"} {
		svc.Revision, svc.Spec.Image = i+1, image
		if err := e.rt.ApplyService(t.Context(), svc); err != nil {
			t.Fatalf("apply %s: %v", image, err)
		}
		e.waitState(t, "web", func(st *berth.ServiceState) error {
			if st.Status != berth.ServiceRunning || st.Revision != i+1 {
				return fmt.Errorf("status %s revision %d", st.Status, st.Revision)
			}
			return nil
		})
	}
	image := func() string {
		return e.kubectl(t, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	}
	// Revision 0 is the one before the current: revision 1 comes back as 3.
	if err := e.rt.RollbackService(t.Context(), e.ref("web"), 0); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := image(); got != "nginx:1.27" {
		t.Errorf("image after rollback = %q, want nginx:1.27", got)
	}
	e.waitState(t, "web", func(st *berth.ServiceState) error {
		if st.Status != berth.ServiceRunning || st.Revision != 3 {
			return fmt.Errorf("status %s revision %d, want RUNNING 3", st.Status, st.Revision)
		}
		return nil
	})
	if err := e.rt.RollbackService(t.Context(), e.ref("web"), 2); err != nil {
		t.Fatalf("rollback to 2: %v", err)
	}
	if got := image(); got != "nginx:1.28" {
		t.Errorf("image after rollback to 2 = %q, want nginx:1.28", got)
	}
	if err := e.rt.RollbackService(t.Context(), e.ref("web"), 9); !berth.IsCode(err, berth.ENOTFOUND) {
		t.Errorf("rollback to a missing revision: %v, want NOT_FOUND", err)
	}
	e.kubectl(t, "rollout", "pause", "deploy/web")
	if err := e.rt.RollbackService(t.Context(), e.ref("web"), 0); !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("rollback of a paused deployment: %v, want CONFLICT", err)
	}
	if err := e.rt.RestartService(t.Context(), e.ref("web")); !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("restart of a paused deployment: %v, want CONFLICT", err)
	}
}
