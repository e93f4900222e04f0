package berth

import (
	"context"
	"time"
)

// TargetInfo describes a configured target: a named instance of a runtime.
type TargetInfo struct {
	Name     string `json:"name"`
	Provider string `json:"provider"` // LOCAL, KUBERNETES, AZURE
	Region   string `json:"region,omitempty"`
	Default  bool   `json:"default,omitempty"`
	// DefaultNamespace is where a service that names no namespace goes, on
	// runtimes with namespaces (Kubernetes); core stores it on the service
	// so that the stored record and the cluster object have one identity.
	DefaultNamespace string `json:"defaultNamespace,omitempty"`
	// CommandRoles and ServiceTemplates are the target's policy (core fills
	// them in): the roles that may run arbitrary commands there (none
	// listed: every role), and the templates everyone else instantiates.
	CommandRoles     []Role         `json:"commandRoles,omitempty"`
	ServiceTemplates []TemplateInfo `json:"serviceTemplates,omitempty"`
	// SingleTenant: the target cannot keep berth's users apart (the local
	// runtime when berth does not run as root: every workload runs as
	// berth's own user), so only admins may create or change workloads there.
	SingleTenant bool `json:"singleTenant,omitempty"`
	// Capabilities are what the target can do (core fills them in from
	// Capabilities): clients offer only these.
	Capabilities []Capability `json:"capabilities"`
}

// Runtime is what every target must do. Implementations live in their own
// packages, know nothing of HTTP or the store, and make every call
// idempotent: applying the same desired state twice changes nothing,
// deleting what is gone succeeds. A capability a runtime lacks answers
// ENOTSUPPORTED (embed Unsupported), never a silent no-op.
type Runtime interface {
	Info() TargetInfo
	// Ping checks that the target is reachable (for /readyz).
	Ping(ctx context.Context) error

	// ApplyService converges the service to svc.Spec, svc.Replicas,
	// svc.Stopped and svc.Revision (create or update). It returns once the
	// change is accepted, not when replicas are ready.
	ApplyService(ctx context.Context, svc *Service) error
	DeleteService(ctx context.Context, ref ServiceRef) error
	ScaleService(ctx context.Context, ref ServiceRef, replicas int) error
	// RestartService replaces replicas one at a time (rolling).
	RestartService(ctx context.Context, ref ServiceRef) error
	// StopService runs no replica but keeps the spec and the replica count.
	StopService(ctx context.Context, ref ServiceRef) error
	StartService(ctx context.Context, ref ServiceRef) error
	// ServiceState reports what runs. ENOTFOUND when the runtime has no such service.
	ServiceState(ctx context.Context, ref ServiceRef) (*ServiceState, error)

	// ApplyEnvironment creates the environment's workload, or ensures it runs
	// (or stays stopped when env.Stopped), and reports where it is reachable.
	ApplyEnvironment(ctx context.Context, env *Environment) (*EnvironmentState, error)
	StartEnvironment(ctx context.Context, env *Environment) error
	StopEnvironment(ctx context.Context, env *Environment) error
	// DeleteEnvironment removes the workload and, unless keepVolume, its storage.
	DeleteEnvironment(ctx context.Context, env *Environment, keepVolume bool) error
	EnvironmentState(ctx context.Context, env *Environment) (*EnvironmentState, error)
}

// ServiceState is what a runtime observes of a service.
type ServiceState struct {
	Status        ServiceStatus `json:"status"`
	Replicas      int           `json:"replicas"` // desired
	ReadyReplicas int           `json:"readyReplicas"`
	Revision      int           `json:"revision"`
	Stopped       bool          `json:"stopped"`
	// Paused: the orchestrator holds rollouts (kubectl rollout pause), so a
	// rollback would change the template without rolling it out.
	Paused    bool           `json:"paused,omitempty"`
	Message   string         `json:"message,omitempty"`
	Instances []ReplicaState `json:"instances,omitempty"`
}

// ReplicaState is one replica (a process, a pod).
type ReplicaState struct {
	Name      string     `json:"name"`
	PID       int        `json:"pid,omitempty"`
	Port      int        `json:"port,omitempty"`
	Ready     bool       `json:"ready"`
	State     string     `json:"state"` // starting, running, backoff, stopped, exited
	Restarts  int        `json:"restarts"`
	Revision  int        `json:"revision"`
	LastExit  string     `json:"lastExit,omitempty"` // "exit status 1", "signal: killed"
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

// EnvironmentState is what a runtime observes of an environment.
type EnvironmentState struct {
	Status           EnvStatus `json:"status"`
	Message          string    `json:"message,omitempty"`
	URL              string    `json:"vsCodeUrl,omitempty"`
	PublicIP         string    `json:"aciPublicIp,omitempty"`
	ContainerGroupID string    `json:"aciContainerGroupId,omitempty"`
	FileShareName    string    `json:"azureFileShareName,omitempty"`
}

// LogOptions select log lines. Tail 0 means every retained line.
type LogOptions struct {
	Tail      int
	Since     time.Time
	Follow    bool
	Previous  bool   // the previous instance of each replica
	Container string // for multi-container workloads
	Replica   string // one replica only
}

// LogLine is one line of a workload's output.
type LogLine struct {
	Time    time.Time `json:"time"`
	Replica string    `json:"replica"`
	Stream  string    `json:"stream,omitempty"` // stdout, stderr
	Line    string    `json:"line"`
}

// ServiceLogger is the optional log capability. ServiceLogs calls fn for each
// line in time order; with Follow it keeps going until ctx is done.
type ServiceLogger interface {
	ServiceLogs(ctx context.Context, ref ServiceRef, opts LogOptions, fn func(LogLine) error) error
}

// ReplicaUsage is a point-in-time measurement of one replica.
type ReplicaUsage struct {
	Replica    string    `json:"replica"`
	PID        int       `json:"pid,omitempty"`
	CPUSeconds float64   `json:"cpuSeconds"` // cumulative
	RSSBytes   int64     `json:"rssBytes"`
	Time       time.Time `json:"time"`
}

// UsageReporter is the optional usage capability.
type UsageReporter interface {
	ServiceUsage(ctx context.Context, ref ServiceRef) ([]ReplicaUsage, error)
}

// Resource is one item of the infrastructure inventory.
type Resource struct {
	Type      string `json:"type"` // service, environment, process, pod, deployment, pvc…
	ID        string `json:"id"`
	Name      string `json:"name"`
	Target    string `json:"target"`
	Namespace string `json:"namespace,omitempty"`
	Status    string `json:"status"`
	Managed   bool   `json:"managed"`
	Orphaned  bool   `json:"orphaned,omitempty"`
	// BerthKind and BerthID name the berth object a managed resource belongs
	// to ("service" + name, "environment" + id), read from its labels; core
	// marks the resource Orphaned when the store has no such object.
	BerthKind string         `json:"berthKind,omitempty"`
	BerthID   string         `json:"berthId,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
}

// Inventorier is the optional inventory capability: what the target runs
// beyond services and environments (processes, pods, volumes).
type Inventorier interface {
	Inventory(ctx context.Context) ([]Resource, error)
	// DeleteResource removes one inventory item (a process is killed and
	// restarted by its supervisor, as deleting a pod is).
	DeleteResource(ctx context.Context, typ, id string) error
}

// ResourceActor is the optional capability of starting and stopping
// inventory items (a Kubernetes Deployment scaled to 0 and back). action is
// "start" or "stop"; an item that cannot do it answers ENOTSUPPORTED.
type ResourceActor interface {
	ResourceAction(ctx context.Context, typ, id, action string) error
}

// Rollbacker is the optional capability of runtimes that keep revisions
// themselves (Kubernetes ReplicaSets). Others roll back to a stored revision
// through ApplyService.
type Rollbacker interface {
	RollbackService(ctx context.Context, ref ServiceRef, revision int) error
}

// ServiceLister is the optional capability of runtimes that run services
// berth did not create (Kubernetes Deployments and StatefulSets).
type ServiceLister interface {
	ListServices(ctx context.Context) ([]*Service, error)
}

// ServiceKey names one workload a ServiceIndexer reports. Kind tells apart
// workloads of one namespace and name that are of different kinds (a
// Kubernetes Deployment and a StatefulSet).
type ServiceKey struct {
	Namespace, Name, Kind string
}

// ServiceIndexer is the optional capability of a ServiceLister that keeps
// its workloads indexed (Kubernetes, from its informers' handlers): core
// pages through the keys and builds only a page's services, so a page of a
// cluster's 10,000 Deployments costs the page, not 10,000 conversions.
type ServiceIndexer interface {
	ServiceLister
	// ServiceKeys returns the key of every service ListServices reports,
	// sorted by namespace, name, then kind, and a version that changes
	// whenever any of them changes, its state included. The slice is
	// shared: callers must not modify it.
	ServiceKeys(ctx context.Context) (keys []ServiceKey, version uint64, err error)
	// ServicesOf returns the services of keys, as ListServices reports
	// them: the i-th is keys[i]'s, nil when that workload is gone by now.
	ServicesOf(ctx context.Context, keys []ServiceKey) ([]*Service, error)
}

// RevisionLister is the optional capability of runtimes that keep revisions
// themselves: the revisions of a service berth did not create (Kubernetes
// ReplicaSets and ControllerRevisions), newest first.
type RevisionLister interface {
	ServiceRevisions(ctx context.Context, ref ServiceRef) ([]*Revision, error)
}

// WorkloadEvent is something the orchestrator recorded about a service's
// workload or its replicas (a Kubernetes Event).
type WorkloadEvent struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // Normal, Warning
	Reason  string    `json:"reason"`
	Object  string    `json:"object"` // "Pod/web-7d9c5-x2x9k"
	Message string    `json:"message"`
	Count   int       `json:"count"`
}

// ServiceEventer is the optional capability of reporting the recent events
// of a service's workload, newest first, at most limit.
type ServiceEventer interface {
	ServiceEvents(ctx context.Context, ref ServiceRef, limit int) ([]WorkloadEvent, error)
}

// NoServices can be embedded by runtimes that run environments only (ACI):
// every service call answers ENOTSUPPORTED naming the target.
type NoServices struct{ Target string }

func (n NoServices) ApplyService(context.Context, *Service) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) DeleteService(context.Context, ServiceRef) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) ScaleService(context.Context, ServiceRef, int) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) RestartService(context.Context, ServiceRef) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) StopService(context.Context, ServiceRef) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) StartService(context.Context, ServiceRef) error {
	return NotSupported(n.Target, "services")
}
func (n NoServices) ServiceState(context.Context, ServiceRef) (*ServiceState, error) {
	return nil, NotSupported(n.Target, "services")
}

// EnvironmentChecker is the optional capability of checking an environment
// before anything is stored or started: that its template exists on the
// target. A create that fails it leaves no record.
type EnvironmentChecker interface {
	CheckEnvironment(env *Environment) error
}

// EnvironmentLogger is the optional capability of reading an environment's
// output (ACI ListLogs, the local workspace process's log).
type EnvironmentLogger interface {
	EnvironmentLogs(ctx context.Context, env *Environment, opts LogOptions, fn func(LogLine) error) error
}

// EnvironmentRestarter is the optional capability of restarting an
// environment in place (ACI restarts the container group). Without it core
// stops and starts the environment.
type EnvironmentRestarter interface {
	RestartEnvironment(ctx context.Context, env *Environment) error
}

// DriftReporter is the optional capability of telling whether the objects a
// runtime made for a service or an environment are still as berth last
// applied them (Nomad-style: core asks, the runtime knows its objects). Each
// string names one object that drifted or vanished ("Deployment ns/web:
// missing", "Deployment ns/web: changed"); none means as applied. Only
// objects berth created are looked at. Core re-applies on drift; runtimes
// without it are re-applied once per leader term (as restore did) and else
// only on user writes.
type DriftReporter interface {
	ServiceDrift(ctx context.Context, svc *Service) ([]string, error)
	EnvironmentDrift(ctx context.Context, env *Environment) ([]string, error)
}

// DriftNotifier is the optional capability of telling core as soon as a
// managed object changes (an informer event), so that the owning service or
// environment is checked without waiting for the next resync. notify is
// called with the service's ref or the environment's id (the other empty).
type DriftNotifier interface {
	NotifyDrift(notify func(svc ServiceRef, envID string))
}
