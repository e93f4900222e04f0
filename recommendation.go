package berth

import (
	"context"
	"math"
	"strings"
	"time"
)

// RecKind is what a recommendation proposes.
type RecKind string

const (
	RecRightsize     RecKind = "rightsize"      // CPU and memory requests of a service
	RecScale         RecKind = "scale"          // replicas of a service (HPA formula)
	RecStopIdle      RecKind = "stop-idle"      // stop an idle environment or service
	RecDeleteDormant RecKind = "delete-dormant" // delete an environment stopped for long
	RecRollback      RecKind = "rollback"       // roll a crash-looping service back
	RecCleanupOrphan RecKind = "cleanup-orphan" // delete orphaned infrastructure
)

// RecKinds lists every kind, for validation and documentation.
func RecKinds() []RecKind {
	return []RecKind{RecRightsize, RecScale, RecStopIdle, RecDeleteDormant, RecRollback, RecCleanupOrphan}
}

// RecStatus is where a recommendation is in its life.
type RecStatus string

const (
	RecOpen     RecStatus = "OPEN"
	RecApplied  RecStatus = "APPLIED"
	RecRejected RecStatus = "REJECTED"
	RecExpired  RecStatus = "EXPIRED" // its subject changed or went away
	RecFailed   RecStatus = "FAILED"  // apply was tried and the action failed
)

// RecStatuses lists every status.
func RecStatuses() []RecStatus {
	return []RecStatus{RecOpen, RecApplied, RecRejected, RecExpired, RecFailed}
}

// Sources of recommendations.
const (
	RecSourceBerth    = "berth"
	RecSourceAIEngine = "ai-engine"
)

// Subject types of a recommendation.
const (
	RecSubjectService        = "service"
	RecSubjectEnvironment    = "environment"
	RecSubjectInfrastructure = "infrastructure"
)

// RecSuppression is how long a rejected recommendation keeps the same
// proposal for its subject and kind from being raised again, and
// RecMoveThreshold how far (relative) a new proposal must move from the
// rejected one to be raised before that.
const (
	RecSuppression   = 7 * 24 * time.Hour
	RecMoveThreshold = 0.20
)

// RecSubject is what a recommendation is about. Name is a service's name,
// an environment's name or an inventory item's name; ID an environment's
// id or an inventory item's "type/id".
type RecSubject struct {
	Type string `json:"type"`
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

// RecState is a subject's state as a recommendation sees it: current is
// what is, proposed what apply makes it. Fields are the service spec's own
// (resources.cpu, resources.memory, replicas); the rest say what the other
// kinds do.
type RecState struct {
	Resources *Resources `json:"resources,omitempty"`
	Replicas  *int       `json:"replicas,omitempty"`
	// Revision is the service's revision (current) or the one to roll back
	// to (proposed).
	Revision int    `json:"revision,omitempty"`
	Status   string `json:"status,omitempty"` // RUNNING, STOPPED, DELETED
	// KeepVolume is offered with delete-dormant: deleting keeps the volume.
	KeepVolume *bool `json:"keepVolume,omitempty"`
}

// UsageStats summarise a series over the window.
type UsageStats struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// Evidence is what a recommendation is based on.
type Evidence struct {
	Window     string      `json:"window"`               // "7d", "6h"
	Resolution string      `json:"resolution,omitempty"` // raw, 1m, 1h
	Samples    int         `json:"samples"`
	CPU        *UsageStats `json:"cpu,omitempty"`    // cores, per replica
	Memory     *UsageStats `json:"memory,omitempty"` // bytes, per replica
	// MissingSamples is how many samples are still needed before a
	// proposal is made ("not enough data").
	MissingSamples int  `json:"missingSamples,omitempty"`
	NotEnoughData  bool `json:"notEnoughData,omitempty"`
	OOMKills       int  `json:"oomKills,omitempty"`
	Restarts       int  `json:"restarts,omitempty"`
	// IdleSince, StoppedSince and HealthyRevision support the other kinds.
	IdleSince       *time.Time `json:"idleSince,omitempty"`
	StoppedSince    *time.Time `json:"stoppedSince,omitempty"`
	HealthyRevision int        `json:"healthyRevision,omitempty"`
	// Note is free text (an external engine's explanation).
	Note string `json:"note,omitempty"`
}

// Saving is money per month; negative when the proposal costs more.
type Saving struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

// Recommendation is one proposal of berth's engine or an external one.
type Recommendation struct {
	ID            string     `json:"id"`
	Kind          RecKind    `json:"kind"`
	Source        string     `json:"source"`
	Target        string     `json:"target"`
	Namespace     string     `json:"namespace,omitempty"`
	Subject       RecSubject `json:"subject"`
	Status        RecStatus  `json:"status"`
	Title         string     `json:"title"`
	Reason        string     `json:"reason"`
	Current       RecState   `json:"current"`
	Proposed      RecState   `json:"proposed"`
	Evidence      Evidence   `json:"evidence"`
	Confidence    string     `json:"confidence"` // low, medium, high
	MonthlySaving Saving     `json:"monthlySaving"`
	// Command is the equivalent command for whoever manages a workload
	// berth did not create (kubectl set resources …).
	Command      string         `json:"command,omitempty"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
	AppliedAt    *time.Time     `json:"appliedAt,omitempty"`
	AppliedBy    string         `json:"appliedBy,omitempty"`
	RejectedBy   string         `json:"rejectedBy,omitempty"`
	RejectReason string         `json:"rejectReason,omitempty"`
	Result       map[string]any `json:"result,omitempty"`
	// Owner is the user id owning an environment subject: only they and
	// admins see the recommendation. Never encoded.
	Owner string `json:"-"`
}

// SubjectKey identifies the subject across recommendations: one OPEN
// recommendation per key and kind.
func (r *Recommendation) SubjectKey() string {
	id := r.Subject.ID
	if id == "" {
		id = r.Subject.Name
	}
	return r.Target + "|" + r.Namespace + "|" + r.Subject.Type + "|" + id
}

// Applicable reports whether apply has something to do: not a
// "not enough data" listing.
func (r *Recommendation) Applicable() bool { return !r.Evidence.NotEnoughData }

// RecommendationFilter selects recommendations. VisibleTo, when set, hides
// environment recommendations of other owners (admins leave it empty).
type RecommendationFilter struct {
	Status      RecStatus
	Kind        RecKind
	Target      string
	Service     string // subject type service with this name
	SubjectType string
	SubjectKey  string
	VisibleTo   string
	Offset      int
	Limit       int // 0: no limit
}

// RecommendationStore keeps recommendations.
type RecommendationStore interface {
	// SaveRecommendation records a proposal of rec.Kind for rec's subject:
	// it updates the OPEN one (keeping its id and createdAt) or inserts a new
	// OPEN one, unless a REJECTED one for the same subject and kind was
	// rejected less than RecSuppression before now and the new proposal did
	// not move more than RecMoveThreshold from it: then nothing is stored
	// and saved is false. rec gets its stored id and times.
	SaveRecommendation(ctx context.Context, rec *Recommendation, now time.Time) (saved bool, err error)
	GetRecommendation(ctx context.Context, id string) (*Recommendation, error)
	// ListRecommendations answers the matching ones, newest update first,
	// and their total before paging.
	ListRecommendations(ctx context.Context, f RecommendationFilter) ([]*Recommendation, int, error)
	// TransitionRecommendation stores rec (its status and apply/reject
	// fields) if the stored one is still in status from; ECONFLICT when it
	// is not, ENOTFOUND when missing.
	TransitionRecommendation(ctx context.Context, rec *Recommendation, from RecStatus) error
	// SummarizeRecommendations counts them (visibleTo as in the filter): all
	// by status, the OPEN ones by kind with their total monthly saving in
	// the currency most of them use.
	SummarizeRecommendations(ctx context.Context, visibleTo string) (*RecSummary, error)
}

// ProposalMoved reports whether proposal b differs from a by more than
// RecMoveThreshold in any quantity (CPU, memory, replicas, revision,
// status).
func ProposalMoved(a, b RecState) bool {
	moved := func(x, y float64) bool {
		if x == y {
			return false
		}
		base := math.Max(math.Abs(x), math.Abs(y))
		return math.Abs(x-y)/base > RecMoveThreshold
	}
	qa, qb := a.quantities(), b.quantities()
	for i := range qa {
		if moved(qa[i], qb[i]) {
			return true
		}
	}
	return a.Status != b.Status
}

func (s RecState) quantities() [4]float64 {
	var q [4]float64
	if s.Resources != nil {
		c, _ := ParseCPU("cpu", s.Resources.CPU)
		m, _ := ParseMemory("memory", s.Resources.Memory)
		q[0], q[1] = float64(c), float64(m)
	}
	if s.Replicas != nil {
		q[2] = float64(*s.Replicas)
	}
	q[3] = float64(s.Revision)
	return q
}

// Validate checks a recommendation as an external engine sends it: a
// known kind and subject type, a subject named, a proposal with sane
// values (quantities that parse, within bounds), bounded text. maxReplicas
// bounds a proposed replica count. Core checks that the subject exists.
func (r *Recommendation) Validate(maxReplicas int) error {
	if !knownKind(r.Kind) {
		return Invalid("kind", "%q is not a recommendation kind (%s)", r.Kind, joinKinds())
	}
	want := map[RecKind]string{RecRightsize: RecSubjectService, RecScale: RecSubjectService, RecRollback: RecSubjectService,
		RecDeleteDormant: RecSubjectEnvironment, RecCleanupOrphan: RecSubjectInfrastructure}
	switch t := r.Subject.Type; {
	case r.Kind == RecStopIdle && (t == RecSubjectService || t == RecSubjectEnvironment):
	case want[r.Kind] == t:
	default:
		return Invalid("subject.type", "%q cannot be the subject of a %s recommendation", t, r.Kind)
	}
	if r.Subject.Name == "" && r.Subject.ID == "" {
		return Invalid("subject.name", "is required")
	}
	for f, s := range map[string]string{"subject.name": r.Subject.Name, "subject.id": r.Subject.ID, "target": r.Target, "namespace": r.Namespace} {
		if len(s) > 253 || !PlainText(s) {
			return Invalid(f, "is not a name (at most 253 printable characters)")
		}
	}
	for f, s := range map[string]string{"title": r.Title, "reason": r.Reason, "evidence.note": r.Evidence.Note} {
		if len(s) > 2000 || !PlainText(s) {
			return Invalid(f, "must be at most 2000 printable characters")
		}
	}
	if r.Title == "" {
		return Invalid("title", "is required")
	}
	switch r.Confidence {
	case "low", "medium", "high":
	default:
		return Invalid("confidence", "must be low, medium or high, got %q", r.Confidence)
	}
	if a := r.MonthlySaving.Amount; math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a) > 1e7 {
		return Invalid("monthlySaving.amount", "%v is not a sane amount", a)
	}
	return r.validateProposal(maxReplicas)
}

// Bounds of a proposal: what a service could sensibly request.
const (
	maxProposedCPU    = 256 * 1000 // millicores
	maxProposedMemory = 1 << 40    // 1 TiB
)

func (r *Recommendation) validateProposal(maxReplicas int) error {
	p := r.Proposed
	switch r.Kind {
	case RecRightsize:
		if p.Resources == nil || (p.Resources.CPU == "" && p.Resources.Memory == "") {
			return Invalid("proposed.resources", "is required for rightsize")
		}
		cpu, err := ParseCPU("proposed.resources.cpu", p.Resources.CPU)
		if err != nil {
			return err
		}
		mem, err := ParseMemory("proposed.resources.memory", p.Resources.Memory)
		if err != nil {
			return err
		}
		if cpu > maxProposedCPU || (cpu > 0 && cpu < 1) {
			return Invalid("proposed.resources.cpu", "%q is out of bounds (1m to 256 cores)", p.Resources.CPU)
		}
		if mem > maxProposedMemory || (mem > 0 && mem < 4<<20) {
			return Invalid("proposed.resources.memory", "%q is out of bounds (4Mi to 1Ti)", p.Resources.Memory)
		}
	case RecScale:
		if p.Replicas == nil || *p.Replicas < 1 || *p.Replicas > maxReplicas {
			return Invalid("proposed.replicas", "must be between 1 and %d", maxReplicas)
		}
	case RecRollback:
		if p.Revision < 1 {
			return Invalid("proposed.revision", "must be a revision number")
		}
	}
	return nil
}

func knownKind(k RecKind) bool {
	for _, x := range RecKinds() {
		if x == k {
			return true
		}
	}
	return false
}

func joinKinds() string {
	var s []string
	for _, k := range RecKinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// KnownRecStatus reports whether s is a status.
func KnownRecStatus(s RecStatus) bool {
	for _, x := range RecStatuses() {
		if x == s {
			return true
		}
	}
	return false
}

// KnownRecKind reports whether k is a kind.
func KnownRecKind(k RecKind) bool { return knownKind(k) }

// RecRefresh is what one run of the engines did.
type RecRefresh struct {
	Message string `json:"message"`
	// Raised counts proposals stored (new or updated), Suppressed those a
	// rejection kept back, Expired the OPEN ones that no longer apply.
	Raised     int `json:"raised"`
	Suppressed int `json:"suppressed"`
	Expired    int `json:"expired"`
	Open       int `json:"open"`
	// Engine is the external engine's last exchange (absent when none is set).
	Engine *RecEngineStatus `json:"engine,omitempty"`
	// DurationMs is how long the run took.
	DurationMs int64 `json:"durationMs"`
}

// RecEngineStatus is the external engine's health as /api/v1/status shows it.
type RecEngineStatus struct {
	URL      string     `json:"url"`
	Status   string     `json:"status"` // ok, unreachable, invalid, waiting
	Error    string     `json:"error,omitempty"`
	LastRun  *time.Time `json:"lastRun,omitempty"`
	Accepted int        `json:"accepted"`
	Refused  int        `json:"refused"`
	// Refusals are why answers were refused (the last few).
	Refusals []string `json:"refusals,omitempty"`
}

// RecSummary is the overview's `recommendations`: OPEN ones by kind, all
// by status, and the total monthly saving of the OPEN ones.
type RecSummary struct {
	Open          int            `json:"open"`
	ByKind        map[string]int `json:"byKind"`
	ByStatus      map[string]int `json:"byStatus"`
	MonthlySaving Saving         `json:"monthlySaving"`
}

// AutoscaleReporter is the optional capability of runtimes whose services
// an autoscaler may manage (a Kubernetes HorizontalPodAutoscaler): such a
// service is not rightsized or scaled by recommendations.
type AutoscaleReporter interface {
	Autoscaled(ctx context.Context, ref ServiceRef) (bool, error)
}
