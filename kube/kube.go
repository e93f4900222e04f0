// Package kube is the Kubernetes runtime: services are Deployments (plus a
// Service for ports, a Secret for secrets and a ConfigMap for config files),
// and every Deployment and StatefulSet of the watched namespaces is a
// service too, managed by berth or not. Reads come from shared informers;
// writes go to the API server and are verified by the caches catching up.
package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/tracing"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Labels and annotations berth puts on what it creates (DESIGN §2).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelKind      = "berth.dev/kind"
	LabelID        = "berth.dev/id"
	LabelOwner     = "berth.dev/owner"
	ManagedBy      = "berth"

	AnnotationReplicasBeforeStop = "berth.dev/replicas-before-stop"
	AnnotationStoppedAt          = "berth.dev/stopped-at"
	AnnotationRevision           = "berth.dev/revision"
	AnnotationConfigHash         = "berth.dev/config-hash"
	// AnnotationKeptVolume marks a workspace claim kept after its
	// environment was deleted (keepVolume): kept on purpose, no orphan.
	AnnotationKeptVolume = "berth.dev/kept-volume"
	// AnnotationRestartedAt is what `kubectl rollout restart` sets on the pod template.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// annotationDeploymentRevision is the Deployment controller's revision counter.
	annotationDeploymentRevision = "deployment.kubernetes.io/revision"
)

// Config configures one Kubernetes target.
type Config struct {
	Target string // the target's name, e.g. "k8s"
	Region string // reported in Info, for cloudRegion matching
	// Kubeconfig and Context select the cluster; both empty means in-cluster.
	Kubeconfig string
	Context    string
	// Rest, when set, is used instead of Kubeconfig/Context.
	Rest *rest.Config
	// Namespaces are the watched namespaces; services live in them. Empty:
	// every namespace. DefaultNamespace (default: the first watched one, else
	// "default") takes services that name none.
	Namespaces       []string
	DefaultNamespace string
	// SyncTimeout bounds how long a read waits for the caches to fill before
	// answering UNAVAILABLE (default 10 s).
	SyncTimeout time.Duration
	// HealthInterval is how often the API server is probed (default 5 s):
	// while it does not answer, reads say UNAVAILABLE instead of serving a
	// cache that no longer follows the cluster.
	HealthInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	// Environments: each is a Deployment of one workspace pod, a PVC, a
	// Secret and a ClusterIP Service in EnvNamespace (default:
	// DefaultNamespace; it must be watched).
	EnvNamespace string
	// WorkspaceImage is the workspace image (default DefaultWorkspaceImage).
	// A request's baseImage replaces it when it is a full image reference,
	// a template (Templates maps names to images) otherwise.
	WorkspaceImage string
	Templates      map[string]string
	// WorkspacePath is where the PVC is mounted (default /workspace);
	// IDEPort is the IDE's port in the pod and on the Service (default 8080).
	WorkspacePath string
	IDEPort       int32
	// StorageClass of the workspace PVCs; empty: the cluster's default.
	StorageClass string
	// URLTemplate makes an environment's vsCodeUrl from {name} (the
	// Kubernetes object name), {namespace}, {id} (the environment id) and
	// {port} (default "http://{name}.{namespace}.svc:{port}").
	URLTemplate string
	// AgentBaseURL is handed to workspaces as AGENT_BASE_URL (Dev8's name).
	AgentBaseURL string
	// IngressHost, when set, gives every environment an Ingress for this
	// host, a template of {name}, {namespace} and {id} like URLTemplate
	// (e.g. "{id}.dev.example.com"), to the IDE port of its Service; with
	// no URLTemplate, vsCodeUrl is then http(s)://<host>. Without it berth
	// makes no Ingress and makes no Ingress API call at all.
	// IngressClassName picks the controller (empty: the cluster's default
	// class); IngressTLSSecret names an existing TLS Secret of
	// EnvNamespace that serves the host (and makes the URL https).
	IngressHost      string
	IngressClassName string
	IngressTLSSecret string
	// WorkspaceFSGroup, when not 0, is the workspace pod's fsGroup, so that a
	// workspace image running as a non-root user can write its claim.
	WorkspaceFSGroup int64
	// ImagePullSecrets name Secrets (in each object's namespace; berth does
	// not create them) with which the pods of berth's services and of
	// environments pull their images.
	ImagePullSecrets []string
}

// Runtime is a berth.Runtime for one cluster.
type Runtime struct {
	cfg    Config
	host   string
	client kubernetes.Interface

	factories []informers.SharedInformerFactory
	deploys   []appslisters.DeploymentLister
	sets      []appslisters.StatefulSetLister
	rsets     []appslisters.ReplicaSetLister
	crevs     []appslisters.ControllerRevisionLister
	pods      []corelisters.PodLister
	services  []corelisters.ServiceLister
	pvcs      []corelisters.PersistentVolumeClaimLister
	ingresses []networkinglisters.IngressLister // only with IngressHost (ingress.go)
	events    []cache.Indexer                   // indexed by involved object (events.go)
	synced    []cache.InformerSynced

	startOnce sync.Once
	// down holds the last failed health probe, nil while the server answers.
	down atomic.Pointer[error]
	// watchErr holds the last list/watch failure of an informer.
	watchErr atomic.Pointer[error]
	// drift is core's callback for changes of managed objects (drift.go).
	drift atomic.Pointer[driftCallback]
	// hpa caches which workloads an autoscaler manages (autoscale.go).
	hpa hpaCache
	// index keeps the Deployments' and StatefulSets' keys sorted (index.go).
	index *serviceIndex
}

var (
	_ berth.Runtime       = (*Runtime)(nil)
	_ berth.ServiceLister = (*Runtime)(nil)
	_ berth.Rollbacker    = (*Runtime)(nil)
)

// New builds the runtime; Start must run its informers before any call.
func New(cfg Config) (*Runtime, error) {
	if cfg.Target == "" {
		return nil, errors.New("kubernetes target: a name is required")
	}
	if err := checkExtras(cfg); err != nil {
		return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
	}
	rc := cfg.Rest
	if rc == nil {
		var err error
		rc, err = restConfig(cfg.Kubeconfig, cfg.Context)
		if err != nil {
			return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
		}
	}
	rc = rest.CopyConfig(rc)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	rc.UserAgent = "berth"
	rc.Wrap(tracing.Transport("kubernetes")) // API server calls inside a traced request get client spans
	if cfg.SyncTimeout == 0 {
		cfg.SyncTimeout = 10 * time.Second
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultNamespace == "" {
		cfg.DefaultNamespace = "default"
		if len(cfg.Namespaces) > 0 {
			cfg.DefaultNamespace = cfg.Namespaces[0]
		}
	}
	if len(cfg.Namespaces) > 0 && !slices.Contains(cfg.Namespaces, cfg.DefaultNamespace) {
		return nil, fmt.Errorf("kubernetes target %q: default namespace %q is not one of the watched namespaces %s",
			cfg.Target, cfg.DefaultNamespace, strings.Join(cfg.Namespaces, ", "))
	}
	if cfg.EnvNamespace == "" {
		cfg.EnvNamespace = cfg.DefaultNamespace
	}
	if len(cfg.Namespaces) > 0 && !slices.Contains(cfg.Namespaces, cfg.EnvNamespace) {
		return nil, fmt.Errorf("kubernetes target %q: environment namespace %q is not one of the watched namespaces %s",
			cfg.Target, cfg.EnvNamespace, strings.Join(cfg.Namespaces, ", "))
	}
	if cfg.WorkspaceImage == "" {
		cfg.WorkspaceImage = DefaultWorkspaceImage
	}
	if cfg.WorkspacePath == "" {
		cfg.WorkspacePath = "/workspace"
	}
	if cfg.IDEPort == 0 {
		cfg.IDEPort = 8080
	}
	if cfg.URLTemplate == "" {
		cfg.URLTemplate = defaultURLTemplate(cfg)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
	}
	r := &Runtime{cfg: cfg, host: rc.Host, client: client, index: newServiceIndex()}
	namespaces := cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""} // all namespaces, one informer
	}
	for _, ns := range namespaces {
		f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
		d := f.Apps().V1().Deployments()
		s := f.Apps().V1().StatefulSets()
		rs := f.Apps().V1().ReplicaSets()          // revisions, for rollback
		crs := f.Apps().V1().ControllerRevisions() // StatefulSet revisions
		pods := f.Core().V1().Pods()               // instances
		svcs := f.Core().V1().Services()           // inventory
		pvcs := f.Core().V1().PersistentVolumeClaims()
		events := f.Core().V1().Events().Informer() // workload events, no LIST per request
		if err := events.AddIndexers(cache.Indexers{eventsByObject: indexEventObject}); err != nil {
			return nil, fmt.Errorf("kubernetes target %q: index events: %w", cfg.Target, err)
		}
		for _, inf := range []cache.SharedIndexInformer{d.Informer(), s.Informer(), rs.Informer(), crs.Informer(),
			pods.Informer(), svcs.Informer(), pvcs.Informer(), events} {
			if err := inf.SetWatchErrorHandlerWithContext(r.watchError); err != nil {
				return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
			}
			// managedFields are server-side-apply bookkeeping berth never
			// reads: about a quarter of the caches' memory.
			if err := inf.SetTransform(trimCached); err != nil {
				return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
			}
		}
		for _, inf := range []cache.SharedIndexInformer{d.Informer(), svcs.Informer(), pvcs.Informer()} {
			if _, err := inf.AddEventHandler(r.driftHandler()); err != nil {
				return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
			}
		}
		// Synced once the index has seen what the caches hold: a list
		// answered from it then misses nothing the caches have.
		for _, w := range []struct {
			kind string
			inf  cache.SharedIndexInformer
		}{{kindDeploymentKey, d.Informer()}, {kindStatefulSetKey, s.Informer()}} {
			reg, err := w.inf.AddEventHandler(r.index.handler(w.kind))
			if err != nil {
				return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
			}
			r.synced = append(r.synced, reg.HasSynced)
		}
		r.factories = append(r.factories, f)
		r.pods = append(r.pods, pods.Lister())
		r.deploys = append(r.deploys, d.Lister())
		r.sets = append(r.sets, s.Lister())
		r.rsets = append(r.rsets, rs.Lister())
		r.crevs = append(r.crevs, crs.Lister())
		r.services = append(r.services, svcs.Lister())
		r.pvcs = append(r.pvcs, pvcs.Lister())
		r.events = append(r.events, events.GetIndexer())
		r.synced = append(r.synced, d.Informer().HasSynced, s.Informer().HasSynced, rs.Informer().HasSynced,
			crs.Informer().HasSynced, pods.Informer().HasSynced, svcs.Informer().HasSynced, pvcs.Informer().HasSynced,
			events.HasSynced)
		if cfg.IngressHost != "" {
			if err := r.watchIngresses(f); err != nil {
				return nil, fmt.Errorf("kubernetes target %q: %w", cfg.Target, err)
			}
		}
	}
	return r, nil
}

func restConfig(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig == "" && context == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
}

// Start runs the informers until ctx ends. It does not wait for them to
// sync: reads do, up to SyncTimeout, so an unreachable cluster does not
// keep berth from starting.
func (r *Runtime) Start(ctx context.Context) {
	r.startOnce.Do(func() {
		for _, f := range r.factories {
			f.Start(ctx.Done())
		}
		go func() {
			<-ctx.Done()
			for _, f := range r.factories {
				f.Shutdown()
			}
		}()
		go r.probe(ctx)
	})
}

// probe checks the API server every HealthInterval until ctx ends.
func (r *Runtime) probe(ctx context.Context) {
	t := time.NewTicker(r.cfg.HealthInterval)
	defer t.Stop()
	for {
		if err := r.pingServer(ctx); err != nil && ctx.Err() == nil {
			// Pinging answers UNAVAILABLE naming the target: reads repeat it.
			r.down.Store(&err)
		} else {
			r.down.Store(nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EnvNamespace is where the target runs environments.
func (r *Runtime) EnvNamespace() string { return r.cfg.EnvNamespace }

// Info describes the target.
func (r *Runtime) Info() berth.TargetInfo {
	return berth.TargetInfo{Name: r.cfg.Target, Provider: berth.ProviderKubernetes, Region: r.cfg.Region,
		DefaultNamespace: r.cfg.DefaultNamespace}
}

// Ping asks the API server whether it is ready and answers UNAVAILABLE
// until the informers' caches have synced: berth's /readyz is not ready
// before it can answer from them (reads would wait for them meanwhile).
func (r *Runtime) Ping(ctx context.Context) error {
	if err := r.pingServer(ctx); err != nil {
		return err
	}
	if !r.hasSynced() {
		return &berth.Error{Code: berth.EUNAVAILABLE,
			Message: fmt.Sprintf("target %q: the caches of the cluster's objects have not synced yet", r.cfg.Target)}
	}
	return nil
}

// pingServer asks the API server whether it is ready (/readyz, which every
// authenticated identity may read).
func (r *Runtime) pingServer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return r.unavailable(err)
	}
	return nil
}

// waitSynced waits for the caches, up to SyncTimeout.
// It also answers UNAVAILABLE while the last health probe failed.
func (r *Runtime) waitSynced(ctx context.Context) error {
	if err := r.down.Load(); err != nil {
		return *err
	}
	if r.hasSynced() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), r.synced...) {
		if werr := r.watchErr.Load(); werr != nil && (apierrors.IsForbidden(*werr) || apierrors.IsUnauthorized(*werr)) {
			return r.apiError(*werr, "target %q: watch the cluster", r.cfg.Target)
		}
		return r.unavailable(ctx.Err())
	}
	return nil
}

// watchError remembers why an informer could not list or watch, so that a
// read that gave up waiting for the caches says why (berth's identity lacks
// a permission) instead of calling the server unreachable.
func (r *Runtime) watchError(ctx context.Context, rf *cache.Reflector, err error) {
	r.watchErr.Store(&err)
	cache.DefaultWatchErrorHandler(ctx, rf, err)
}

func (r *Runtime) hasSynced() bool {
	for _, s := range r.synced {
		if !s() {
			return false
		}
	}
	return true
}

func (r *Runtime) unavailable(err error) error {
	return &berth.Error{Code: berth.EUNAVAILABLE, Err: err,
		Message: fmt.Sprintf("target %q: Kubernetes API server %s is unreachable", r.cfg.Target, r.host)}
}

// namespace resolves the namespace of a ref and checks it is watched.
func (r *Runtime) namespace(ns string) (string, error) {
	if ns == "" {
		return r.cfg.DefaultNamespace, nil
	}
	if len(r.cfg.Namespaces) > 0 && !slices.Contains(r.cfg.Namespaces, ns) {
		return "", berth.Invalid("namespace", "target %q watches namespaces %s, not %q",
			r.cfg.Target, strings.Join(r.cfg.Namespaces, ", "), ns)
	}
	return ns, nil
}

// listerIndex returns which factory's listers hold namespace ns.
func (r *Runtime) listerIndex(ns string) int {
	for i, w := range r.cfg.Namespaces {
		if w == ns {
			return i
		}
	}
	return 0 // all namespaces: one factory
}

// everything selects all objects of a lister.
var everything = labels.Everything()

// trimCached drops from what the informers cache what berth never reads:
// server-side-apply bookkeeping (what client-go later ships as
// TransformStripManagedFields) on everything, and of a Pod's spec all but
// its node and containers' names and images (status stays whole). Pods
// are most of the cache: with 1,000 Deployments, this is what keeps berth
// under bench-kube's memory target.
func trimCached(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	if p, ok := obj.(*corev1.Pod); ok {
		spec := corev1.PodSpec{NodeName: p.Spec.NodeName}
		for _, c := range p.Spec.InitContainers {
			spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
		}
		for _, c := range p.Spec.Containers {
			spec.Containers = append(spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
		}
		p.Spec = spec
	}
	return obj, nil
}
