package berth

// Capability is something a target can do beyond the Runtime interface's
// minimum, declared in GET /api/v1/targets (as Nomad drivers declare theirs)
// so that the dashboard and the CLI offer only what the target answers.
type Capability string

// The capabilities, in the order they are listed.
const (
	CapServices     Capability = "services"     // ApplyService and the rest of the service calls
	CapEnvironments Capability = "environments" // ApplyEnvironment and the rest
	CapScale        Capability = "scale"        // ScaleService
	CapRestart      Capability = "restart"      // RestartService (rolling)
	// CapRollback: a service goes back to a stored revision (through
	// ApplyService) or, unmanaged, to one the runtime keeps (Rollbacker).
	CapRollback        Capability = "rollback"
	CapLogs            Capability = "logs"            // service logs: the runtime's or a log source's (Loki)
	CapEnvironmentLogs Capability = "environmentLogs" // EnvironmentLogger
	CapMetrics         Capability = "metrics"         // CPU and memory: the runtime's or a usage source's (Prometheus)
	CapInventory       Capability = "inventory"       // Inventorier
	// CapRevisions: the runtime keeps revisions of services berth did not
	// create (RevisionLister); berth's own services have stored revisions
	// wherever there are services.
	CapRevisions Capability = "revisions"
	CapEvents    Capability = "events" // ServiceEventer
)

// CapabilityWithholder is the optional interface of runtimes that satisfy
// Runtime but answer ENOTSUPPORTED to some of it (NoServices withholds the
// service calls).
type CapabilityWithholder interface {
	WithheldCapabilities() []Capability
}

// WithheldCapabilities: a runtime embedding NoServices runs no services, so
// it cannot scale, restart or roll one back either.
func (NoServices) WithheldCapabilities() []Capability {
	return []Capability{CapServices, CapScale, CapRestart, CapRollback}
}

// Capabilities derives what rt can do from the optional interfaces it
// implements and what it withholds; extra adds what berth provides for the
// target from elsewhere (a log source, a usage source). This is the one
// place capabilities are decided.
func Capabilities(rt Runtime, extra ...Capability) []Capability {
	has := map[Capability]bool{CapServices: true, CapEnvironments: true, CapScale: true, CapRestart: true, CapRollback: true}
	_, has[CapLogs] = rt.(ServiceLogger)
	_, has[CapEnvironmentLogs] = rt.(EnvironmentLogger)
	_, ur := rt.(UsageReporter)
	_, ul := rt.(UsageLister)
	has[CapMetrics] = ur || ul
	_, has[CapInventory] = rt.(Inventorier)
	_, has[CapRevisions] = rt.(RevisionLister)
	_, has[CapEvents] = rt.(ServiceEventer)
	for _, c := range extra {
		has[c] = true
	}
	if w, ok := rt.(CapabilityWithholder); ok {
		for _, c := range w.WithheldCapabilities() {
			has[c] = false
		}
	}
	// Without services, nothing service-shaped is left to offer.
	if !has[CapServices] {
		for _, c := range []Capability{CapScale, CapRestart, CapRollback, CapLogs, CapMetrics, CapRevisions, CapEvents} {
			has[c] = false
		}
	}
	out := []Capability{}
	for _, c := range allCapabilities {
		if has[c] {
			out = append(out, c)
		}
	}
	return out
}

var allCapabilities = []Capability{CapServices, CapEnvironments, CapScale, CapRestart, CapRollback, CapLogs,
	CapEnvironmentLogs, CapMetrics, CapInventory, CapRevisions, CapEvents}

// Has reports whether the target declares c.
func (t TargetInfo) Has(c Capability) bool {
	for _, x := range t.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}
