// Package chat is berth's ChatOps: plain words in, one of berth's own
// calls out, made as the person asking. One intent table (below) drives
// matching, the help text, docs/chat.md and the phrasing tests; entities
// (services, environments, targets, revisions) are matched against berth's
// real names, with a closest-match offer for typos. A mutation is never
// done on the first message: the answer carries a single-use confirm token
// bound to the user and that exact action.
package chat

import "github.com/berthhq/berth"

// Kind is what an argument of an intent holds.
type Kind string

const (
	KService  Kind = "service"        // a service's name (or "it": the subject of the conversation)
	KEnv      Kind = "environment"    // an environment's name or id
	KNumber   Kind = "number"         // a whole number ("3", "three")
	KRevision Kind = "revision"       // a revision number
	KImage    Kind = "image"          // one of the images the generator knows
	KName     Kind = "name"           // a new name (a DNS label)
	KTarget   Kind = "target"         // "on kube": a configured target (taken from anywhere in the text)
	KSince    Kind = "since"          // "in the last hour" (taken from anywhere in the text)
	KCores    Kind = "cores"          // "with 2 cores"
	KMemory   Kind = "memory"         // "with 2Gi"
	KVersion  Kind = "version"        // "postgres 16"
	KRec      Kind = "recommendation" // a recommendation's id ("rec-…")
	KRecKind  Kind = "kind"           // a recommendation kind ("rightsize", "scale", …)
)

// Arg is an argument of an intent: the slot name its phrases use and what
// it holds. Optional arguments may be left out of the text.
type Arg struct {
	Name     string
	Kind     Kind
	Optional bool
}

// Intent is one thing berth understands. Phrases are its grammar: words
// must appear in that order (other words may stand between them), {slot}
// takes one word checked against the slot's kind, a|b is either word and
// [word] may be left out.
type Intent struct {
	Name     string
	Phrases  []string
	Args     []Arg
	Mutating bool
	// Role is the least role, that of the REST route doing the same.
	Role berth.Role
	// Action is what the audit log calls it ("service.scale"); Call the
	// core method it maps to.
	Action string
	Call   string
	Help   string
}

var (
	svcArg     = Arg{Name: "service", Kind: KService}
	envArg     = Arg{Name: "env", Kind: KEnv}
	targetArg  = Arg{Name: "target", Kind: KTarget, Optional: true}
	sinceArg   = Arg{Name: "since", Kind: KSince, Optional: true}
	numArg     = Arg{Name: "n", Kind: KNumber}
	svcTargets = []Arg{svcArg, targetArg}
)

// Intents is the table. Order matters only to break ties: earlier wins.
var Intents = []Intent{
	{Name: "help", Role: berth.RoleViewer, Call: "-", Help: "what berth understands",
		Phrases: []string{"help", "what can you do", "what do you understand", "commands"}},
	{Name: "services.list", Role: berth.RoleViewer, Call: "ListServices", Help: "what's running — every service and its state",
		Phrases: []string{"what is running", "what runs", "list services", "show services", "show all services", "services", "status"},
		Args:    []Arg{targetArg}},
	{Name: "services.failing", Role: berth.RoleViewer, Call: "ListServices", Help: "what's failing — services in error or not fully ready",
		Phrases: []string{"what is failing", "what is broken", "what is down", "which services are failing", "failing services", "anything failing", "is anything broken"},
		Args:    []Arg{targetArg}},
	{Name: "services.top", Role: berth.RoleViewer, Call: "Usage", Help: "which services use the most memory (or cpu)",
		Phrases: []string{"which services use most memory", "which services use the most memory", "top memory", "most memory", "memory hogs",
			"which services use most cpu", "top cpu", "most cpu"}},
	{Name: "environments.list", Role: berth.RoleViewer, Call: "ListEnvironments", Help: "show environments — yours (an admin sees all)",
		Phrases: []string{"show environments", "list environments", "environments", "show envs", "list envs", "what environments"}},
	{Name: "targets.list", Role: berth.RoleViewer, Call: "Targets", Help: "list targets — where berth runs things",
		Phrases: []string{"list targets", "show targets", "targets", "where can you deploy"}},
	{Name: "audit.list", Role: berth.RoleViewer, Call: "ListAudit", Help: "what changed recently — the audit log you may read",
		Phrases: []string{"what changed", "recent changes", "audit log", "show audit", "what did i do", "history"}},
	{Name: "service.status", Role: berth.RoleViewer, Call: "GetService", Help: "status of web / how is web doing?",
		Phrases: []string{"status of {service}", "status {service}", "how is {service} doing", "how is {service}", "{service} status",
			"show {service}", "get {service}", "what about {service}", "is {service} running", "is {service} up", "check {service}", "describe {service}"},
		Args: svcTargets},
	{Name: "service.diagnose", Role: berth.RoleViewer, Call: "GetService+ServiceLogs+ListRecommendations+Predictions",
		Help: "why is api failing / slow? — state, exits, restarts, events, error lines, open recommendations, predictions reaching a limit",
		Phrases: []string{"why is {service} failing", "why is {service} slow", "why is {service} down", "why is {service} broken", "why is {service} crashing",
			"why does {service} crash", "why does {service} fail", "what is wrong with {service}", "diagnose {service}", "debug {service}", "troubleshoot {service}", "why {service}"},
		Args: svcTargets},
	{Name: "service.errors", Role: berth.RoleViewer, Call: "ServiceLogs", Help: "errors in web in the last hour — error lines only",
		Phrases: []string{"errors in {service}", "errors of {service}", "errors from {service}", "error logs of {service}", "errors {service}", "{service} errors"},
		Args:    []Arg{svcArg, targetArg, sinceArg}},
	{Name: "service.logs", Role: berth.RoleViewer, Call: "ServiceLogs", Help: "logs of web — its last lines",
		Phrases: []string{"logs of {service}", "logs for {service}", "logs from {service}", "show logs of {service}", "tail {service}", "logs {service}", "{service} logs", "output of {service}"},
		Args:    []Arg{svcArg, targetArg, sinceArg}},
	{Name: "service.revisions", Role: berth.RoleViewer, Call: "ListRevisions", Help: "revisions of web",
		Phrases: []string{"revisions of {service}", "history of {service}", "revisions {service}", "versions of {service}"},
		Args:    svcTargets},
	{Name: "service.scale", Mutating: true, Role: berth.RoleOperator, Action: "service.scale", Call: "ScaleService", Help: "scale web to 3",
		Phrases: []string{"scale {service} to {n}", "scale {service} {n}", "set {service} replicas to {n}", "set replicas of {service} to {n}",
			"resize {service} to {n}", "run {n} replicas of {service}", "{service} to {n} replicas", "scale {service} to {n} replicas"},
		Args: []Arg{svcArg, numArg, targetArg}},
	{Name: "service.scale-up", Mutating: true, Role: berth.RoleOperator, Action: "service.scale", Call: "ScaleService", Help: "add 2 replicas to web",
		Phrases: []string{"add {n} replicas to {service}", "add {n} to {service}", "scale up {service} by {n}", "scale {service} up by {n}",
			"increase {service} by {n}", "{n} more replicas of {service}", "{n} more replicas for {service}"},
		Args: []Arg{svcArg, numArg, targetArg}},
	{Name: "service.scale-down", Mutating: true, Role: berth.RoleOperator, Action: "service.scale", Call: "ScaleService", Help: "remove 1 replica from web",
		Phrases: []string{"remove {n} replicas from {service}", "remove {n} replica from {service}", "scale down {service} by {n}", "scale {service} down by {n}",
			"decrease {service} by {n}", "{n} fewer replicas of {service}"},
		Args: []Arg{svcArg, numArg, targetArg}},
	{Name: "service.restart", Mutating: true, Role: berth.RoleOperator, Action: "service.restart", Call: "RestartService", Help: "restart web",
		Phrases: []string{"restart {service}", "reboot {service}", "bounce {service}"},
		Args:    svcTargets},
	{Name: "service.stop", Mutating: true, Role: berth.RoleOperator, Action: "service.stop", Call: "StopService", Help: "stop web",
		Phrases: []string{"stop {service}", "shut down {service}", "shutdown {service}", "halt {service}"},
		Args:    svcTargets},
	{Name: "service.start", Mutating: true, Role: berth.RoleOperator, Action: "service.start", Call: "StartService", Help: "start web",
		Phrases: []string{"start {service}", "resume {service}", "bring up {service}", "bring {service} up", "bring {service} back"},
		Args:    svcTargets},
	{Name: "service.rollback", Mutating: true, Role: berth.RoleOperator, Action: "service.rollback", Call: "RollbackService",
		Help: "roll back web (to the previous revision, or to revision 4)",
		Phrases: []string{"rollback {service} to revision {revision}", "roll back {service} to revision {revision}", "rollback {service} to {revision}",
			"roll back {service} to {revision}", "revert {service} to revision {revision}", "revert {service} to {revision}",
			"rollback {service}", "roll back {service}", "roll {service} back", "revert {service}", "undo {service}", "undo last change to {service}"},
		Args: []Arg{svcArg, {Name: "revision", Kind: KRevision, Optional: true}, targetArg}},
	{Name: "service.delete", Mutating: true, Role: berth.RoleOperator, Action: "service.delete", Call: "DeleteService", Help: "delete web",
		Phrases: []string{"delete {service}", "remove {service}", "destroy {service}", "rm {service}", "delete service {service}"},
		Args:    svcTargets},
	{Name: "environment.create", Mutating: true, Role: berth.RoleOperator, Action: "environment.create", Call: "CreateEnvironment",
		Help: "create an environment called demo with 2 cores",
		Phrases: []string{"create environment called|named {name}", "create environment {name}", "new environment called|named {name}", "new environment {name}",
			"make environment called|named {name}", "create env called|named {name}", "create env {name}", "environment called|named {name}"},
		Args: []Arg{{Name: "name", Kind: KName}, {Name: "cores", Kind: KCores, Optional: true}, {Name: "memory", Kind: KMemory, Optional: true}, targetArg}},
	{Name: "environment.start", Mutating: true, Role: berth.RoleOperator, Action: "environment.start", Call: "StartEnvironment", Help: "start environment demo",
		Phrases: []string{"start environment|env {env}", "start {env} environment|env", "resume environment|env {env}", "start {env}"},
		Args:    []Arg{envArg}},
	{Name: "environment.stop", Mutating: true, Role: berth.RoleOperator, Action: "environment.stop", Call: "StopEnvironment", Help: "stop environment demo",
		Phrases: []string{"stop environment|env {env}", "stop {env} environment|env", "pause environment|env {env}", "stop {env}"},
		Args:    []Arg{envArg}},
	{Name: "environment.delete", Mutating: true, Role: berth.RoleOperator, Action: "environment.delete", Call: "DeleteEnvironment", Help: "delete environment demo",
		Phrases: []string{"delete environment|env {env}", "remove environment|env {env}", "destroy environment|env {env}", "delete {env} environment|env", "delete {env}"},
		Args:    []Arg{envArg}},
	{Name: "environment.status", Role: berth.RoleViewer, Call: "ListEnvironments", Help: "status of environment demo",
		Phrases: []string{"status of environment|env {env}", "how is environment|env {env}", "show environment|env {env}", "status of {env}", "how is {env} doing"},
		Args:    []Arg{envArg}},
	{Name: "service.generate", Role: berth.RoleViewer, Call: "-", Help: "create a redis service / a postgres 16 with 2Gi — a spec (and Kubernetes manifests) to apply",
		Phrases: []string{"create {image}", "generate {image}", "make {image}", "new {image}", "deploy {image}", "spec for {image}", "i need {image}", "give me {image}",
			"set up {image}", "setup {image}", "{image}"},
		Args: []Arg{{Name: "image", Kind: KImage}, {Name: "version", Kind: KVersion, Optional: true}, {Name: "memory", Kind: KMemory, Optional: true},
			{Name: "name", Kind: KName, Optional: true}, targetArg}},
	{Name: "service.apply", Mutating: true, Role: berth.RoleOperator, Action: "service.apply", Call: "ApplyService",
		Help:    "apply it — create the service from the spec just generated",
		Phrases: []string{"apply it", "apply", "apply that", "create it", "deploy it", "do it", "go ahead", "yes apply"}},
	{Name: "recommendation.apply", Mutating: true, Role: berth.RoleOperator, Action: "recommendation.apply", Call: "ApplyRecommendation",
		Help: "apply recommendation rec-1a2b / apply the rightsize of web — an OPEN recommendation, by id or by kind and service",
		Phrases: []string{"apply recommendation|rec {rec}", "apply {rec}", "accept recommendation|rec {rec}", "accept {rec}",
			"apply {kind} {service}", "apply {kind} recommendation {service}", "accept {kind} {service}", "accept {kind} recommendation {service}",
			"apply recommendation {service}", "apply recommendations {service}"},
		Args: recArgs},
	{Name: "recommendation.reject", Mutating: true, Role: berth.RoleOperator, Action: "recommendation.reject", Call: "RejectRecommendation",
		Help: "reject recommendation rec-1a2b because too risky — by id or by kind and service; the reason follows \"because\"",
		Phrases: []string{"reject recommendation|rec {rec}", "reject {rec}", "dismiss recommendation|rec {rec}", "dismiss {rec}", "decline {rec}",
			"reject {kind} {service}", "reject {kind} recommendation {service}", "dismiss {kind} {service}",
			"reject recommendation {service}", "reject recommendations {service}"},
		Args: recArgs},
}

// recArgs name a recommendation: its id, or its kind and service.
var recArgs = []Arg{{Name: "rec", Kind: KRec, Optional: true}, {Name: "kind", Kind: KRecKind, Optional: true},
	{Name: "service", Kind: KService, Optional: true}, targetArg}

// intentByName finds an intent of the table.
func intentByName(name string) *Intent {
	for i := range Intents {
		if Intents[i].Name == name {
			return &Intents[i]
		}
	}
	return nil
}
