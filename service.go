package berth

import (
	"context"
	"time"
)

// ServiceStatus is the observed state of a service.
type ServiceStatus string

const (
	ServicePending   ServiceStatus = "PENDING"   // accepted, nothing started yet
	ServiceDeploying ServiceStatus = "DEPLOYING" // rolling out a revision or scaling up
	ServiceRunning   ServiceStatus = "RUNNING"   // ready == desired > 0
	ServiceDegraded  ServiceStatus = "DEGRADED"  // fewer ready than desired after having run
	ServiceStopped   ServiceStatus = "STOPPED"   // stopped by a user (or scaled to 0)
	ServiceError     ServiceStatus = "ERROR"     // cannot run: see Message
)

// Redacted stands in for a secret value in every output.
const Redacted = "[redacted]"

// Port is a named port of a service.
type Port struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// Resources are requests of a workload, as Kubernetes quantities ("500m", "256Mi").
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// HealthCheck probes a replica: an HTTP GET on a path, or a TCP connect.
// Port names a port of the spec (empty: the first).
type HealthCheck struct {
	HTTP string `json:"http,omitempty"`
	TCP  bool   `json:"tcp,omitempty"`
	Port string `json:"port,omitempty"`
}

// Config holds revisioned configuration files of a service.
type Config struct {
	Files map[string]string `json:"files,omitempty"`
}

// ServiceSpec is the desired state of a service: the body of
// PUT /api/v1/services/{name} and of `berth svc apply -f`.
type ServiceSpec struct {
	Target    string `json:"target,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Template names a service template of the target (berth.yaml
	// serviceTemplates): the template gives what runs, the spec only the
	// parameters the template lets its user set. The stored spec (and so
	// every revision) is this instantiation; core expands it for the runtime.
	Template    string            `json:"template,omitempty"`
	Image       string            `json:"image,omitempty"`
	Command     []string          `json:"command,omitempty"`
	WorkingDir  string            `json:"workingDir,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Secrets     map[string]string `json:"secrets,omitempty"`
	Replicas    *int              `json:"replicas,omitempty"`
	Ports       []Port            `json:"ports,omitempty"`
	Resources   Resources         `json:"resources,omitempty"`
	HealthCheck *HealthCheck      `json:"healthCheck,omitempty"`
	Config      Config            `json:"config,omitempty"`
}

// ReplicaCount returns the desired replicas (1 when unset).
func (s ServiceSpec) ReplicaCount() int {
	if s.Replicas == nil {
		return 1
	}
	return *s.Replicas
}

// Redacted returns a copy of the spec whose secret values are replaced by
// Redacted; the keys stay visible so users see which secrets are set.
func (s ServiceSpec) Redacted() ServiceSpec {
	out := s
	if len(s.Secrets) > 0 {
		out.Secrets = make(map[string]string, len(s.Secrets))
		for k := range s.Secrets {
			out.Secrets[k] = Redacted
		}
	}
	return out
}

// Service is a service as berth knows it: desired state from the store
// merged with observed state from its runtime.
type Service struct {
	Name          string         `json:"name"`
	Target        string         `json:"target"`
	Namespace     string         `json:"namespace,omitempty"`
	Status        ServiceStatus  `json:"status"`
	Replicas      int            `json:"replicas"`
	ReadyReplicas int            `json:"readyReplicas"`
	Revision      int            `json:"revision"`
	Managed       bool           `json:"managed"`
	Stopped       bool           `json:"stopped"`
	Spec          ServiceSpec    `json:"spec"`
	Message       string         `json:"message,omitempty"`
	Owner         string         `json:"owner,omitempty"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	Instances     []ReplicaState `json:"instances,omitempty"` // per-replica detail from the runtime
	// Events are the workload's recent events (GET of one service, runtimes
	// that are ServiceEventers).
	Events []WorkloadEvent `json:"events,omitempty"`
}

// Ref returns the identity of the service.
func (s *Service) Ref() ServiceRef {
	return ServiceRef{Target: s.Target, Namespace: s.Namespace, Name: s.Name}
}

// ServiceRef identifies a service: unique by target, namespace and name.
type ServiceRef struct {
	Target    string `json:"target"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r ServiceRef) String() string {
	if r.Namespace != "" {
		return r.Target + ":" + r.Namespace + "/" + r.Name
	}
	return r.Target + ":" + r.Name
}

// Revision is one stored version of a service's spec. Every spec or config
// change (and every rollback) makes a new revision; scaling and stop/start do not.
type Revision struct {
	Service   ServiceRef  `json:"-"`
	Number    int         `json:"revision"`
	Spec      ServiceSpec `json:"spec"`
	Cause     string      `json:"cause"` // "apply", "config", "rollback to 3"
	Author    string      `json:"author,omitempty"`
	CreatedAt time.Time   `json:"createdAt"`
}

// ServiceFilter selects services from the store.
type ServiceFilter struct {
	Target    string
	Namespace string
	Name      string
	Owner     string // empty: any owner
	Offset    int
	Limit     int // 0: no limit
}

// ServiceStore keeps the desired state of services berth manages and their revisions.
// Secret values in specs are encrypted at rest by the store.
type ServiceStore interface {
	// CreateService stores a new service with its first revision (svc.Revision,
	// normally 1, holds svc.Spec). ECONFLICT if it exists.
	CreateService(ctx context.Context, svc *Service, rev *Revision) error
	// UpdateService replaces the stored desired state of an existing service
	// (spec, replicas, stopped, revision, message). When rev is not nil it is
	// added in the same transaction (rev.Number must equal svc.Revision).
	// It writes only over the revision the change was made to (svc.Revision,
	// or svc.Revision-1 with rev): ECONFLICT when the stored service is at
	// another, so a stale copy never puts an old spec back. ENOTFOUND if
	// missing.
	UpdateService(ctx context.Context, svc *Service, rev *Revision) error
	GetService(ctx context.Context, ref ServiceRef) (*Service, error)
	// ListServices returns the matching services ordered by target, namespace,
	// name and the total count before paging.
	ListServices(ctx context.Context, f ServiceFilter) ([]*Service, int, error)
	// DeleteService removes a service and its revisions. ENOTFOUND if missing.
	DeleteService(ctx context.Context, ref ServiceRef) error
	// ListRevisions returns the revisions of a service, newest first.
	ListRevisions(ctx context.Context, ref ServiceRef) ([]*Revision, error)
	GetRevision(ctx context.Context, ref ServiceRef, number int) (*Revision, error)
}
