package chat

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

// handlers answer each intent of the table (TestEveryIntentHasAHandler).
var handlers = map[string]func(t *turn) error{
	"help":                  func(t *turn) error { t.help("Sure."); return nil },
	"services.list":         (*turn).listServices,
	"services.failing":      (*turn).failing,
	"services.top":          (*turn).top,
	"environments.list":     (*turn).listEnvironments,
	"targets.list":          (*turn).listTargets,
	"audit.list":            (*turn).listAudit,
	"service.status":        (*turn).status,
	"service.diagnose":      (*turn).diagnose,
	"service.errors":        func(t *turn) error { return t.logs(true) },
	"service.logs":          func(t *turn) error { return t.logs(false) },
	"service.revisions":     (*turn).revisions,
	"service.scale":         (*turn).scale,
	"service.scale-up":      (*turn).scale,
	"service.scale-down":    (*turn).scale,
	"service.restart":       (*turn).simple,
	"service.stop":          (*turn).simple,
	"service.start":         (*turn).simple,
	"service.rollback":      (*turn).rollback,
	"service.delete":        (*turn).simple,
	"environment.create":    (*turn).createEnvironment,
	"environment.start":     (*turn).envAction,
	"environment.stop":      (*turn).envAction,
	"environment.delete":    (*turn).envAction,
	"environment.status":    (*turn).envStatus,
	"service.generate":      (*turn).generate,
	"service.apply":         (*turn).applyGenerated,
	"recommendation.apply":  (*turn).recAction,
	"recommendation.reject": (*turn).recAction,
}

func (t *turn) listServices() error {
	target := t.parsed.Args["target"]
	if len(t.svcs) == 0 {
		t.say("No services yet. Try \"create a redis service\".")
		return nil
	}
	n := 0
	for _, s := range t.svcs {
		if target != "" && !strings.EqualFold(s.Target, target) {
			continue
		}
		n++
		if n <= 20 {
			t.say("%s", serviceLine(s))
		}
	}
	if n > 20 {
		t.say("… and %d more (berth svc ls shows them all)", n-20)
	}
	if n == 0 {
		t.say("No services on %s.", target)
	}
	t.resp.Suggestions = []string{"what's failing"}
	return nil
}

func serviceLine(s *berth.Service) string {
	return fmt.Sprintf("%s on %s: %s, %d/%d ready, revision %d", s.Name, s.Target, s.Status, s.ReadyReplicas, s.Replicas, s.Revision)
}

// unhealthy: in error, degraded, or fewer ready than wanted while not stopped.
func unhealthy(s *berth.Service) bool {
	return s.Status == berth.ServiceError || s.Status == berth.ServiceDegraded ||
		(!s.Stopped && s.Status != berth.ServiceDeploying && s.Status != berth.ServicePending && s.ReadyReplicas < s.Replicas)
}

func (t *turn) failing() error {
	var bad []*berth.Service
	for _, s := range t.svcs {
		if unhealthy(s) {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		t.say("Nothing is failing: %d services, all as wanted.", len(t.svcs))
		return nil
	}
	for i, s := range bad {
		if i == 20 {
			t.say("… and %d more", len(bad)-20)
			break
		}
		line := serviceLine(s)
		if s.Message != "" {
			line += " — " + s.Message
		}
		t.say("%s", line)
		if i < 3 {
			t.resp.Suggestions = append(t.resp.Suggestions, "why is "+s.Name+" failing")
		}
	}
	return nil
}

func (t *turn) top() error {
	if t.e.cfg.Usage == nil {
		t.say("I have no usage measurements on this server.")
		return nil
	}
	us, err := t.e.cfg.Usage.ServiceUsage(t.ctx)
	if err != nil {
		return fmt.Errorf("chat: usage: %w", err)
	}
	cpu := strings.Contains(strings.ToLower(t.msg), "cpu")
	sort.Slice(us, func(i, j int) bool {
		if cpu {
			return us[i].CPUCores > us[j].CPUCores
		}
		return us[i].MemoryBytes > us[j].MemoryBytes
	})
	if len(us) == 0 {
		t.say("No measurements yet: the sampler has not seen a running service.")
		return nil
	}
	for i, u := range us {
		if i == 5 {
			break
		}
		t.say("%d. %s on %s: %.0f MiB memory, %.3f CPU cores", i+1, u.Name, u.Target, u.MemoryBytes/(1<<20), u.CPUCores)
	}
	return nil
}

func (t *turn) listEnvironments() error {
	if len(t.envs) == 0 {
		t.say("You have no environments. Try \"create an environment called demo with 2 cores\".")
		return nil
	}
	for i, e := range t.envs {
		if i == 20 {
			t.say("… and %d more", len(t.envs)-20)
			break
		}
		t.say("%s (%s) on %s: %s, %d cores, %d GB", e.Name, e.ID, e.Target, e.Status, e.CPUCores, e.MemoryGB)
	}
	return nil
}

func (t *turn) listTargets() error {
	for _, ti := range t.e.cfg.Backend.Targets() {
		def := ""
		if ti.Default {
			def = " (default)"
		}
		t.say("%s: %s%s", ti.Name, ti.Provider, def)
	}
	return nil
}

func (t *turn) listAudit() error {
	entries, _, err := t.e.cfg.Backend.ListAudit(t.ctx, berth.AuditFilter{Limit: 10})
	if err != nil {
		return t.refused(err)
	}
	if len(entries) == 0 {
		t.say("Nothing in the audit log you may read.")
	}
	for _, e := range entries {
		t.say("%s %s %s %s %s", e.Timestamp.UTC().Format("2006-01-02 15:04"), e.Username, e.Action, e.Resource, e.Status)
	}
	return nil
}

// refused turns a client-safe error of a core call into the reply; other
// errors stay errors.
func (t *turn) refused(err error) error {
	if berth.ErrorCode(err) == berth.EINTERNAL {
		return err
	}
	t.say("%s", berth.ErrorMessage(err))
	return nil
}

// service resolves the service argument: the one service it names, or an
// answer that says why not (unknown, a typo on a read, on several targets).
func (t *turn) service() (*berth.Service, bool) {
	name := t.parsed.Args["service"]
	target := t.parsed.Args["target"]
	if pronouns[name] {
		t.say("Which service do you mean? Name it, e.g. \"%s web\".", strings.Fields(t.parsed.Intent.Help)[0])
		t.resp.Suggestions = t.someServices()
		return nil, false
	}
	var match []*berth.Service
	for _, s := range t.svcs {
		if strings.EqualFold(s.Name, name) && (target == "" || strings.EqualFold(s.Target, target)) {
			match = append(match, s)
		}
	}
	typo := t.parsed.Typos["service"]
	switch {
	case len(match) == 0 && target != "":
		t.say("There is no service %s on %s.", name, target)
		t.resp.Suggestions = t.someServices()
		return nil, false
	case len(match) == 0:
		t.say("I know no service called %s.", name)
		t.resp.Suggestions = t.someServices()
		return nil, false
	case typo != "" && !t.parsed.Intent.Mutating:
		t.say("There is no service %s. Did you mean %s?", typo, name)
		t.resp.Suggestions = []string{replaceWord(t.msg, typo, name)}
		return nil, false
	case len(match) > 1:
		var where []string
		for _, s := range match {
			where = append(where, s.Target)
			t.resp.Suggestions = append(t.resp.Suggestions, replaceWord(t.msg, firstNonEmpty(typo, name), name)+" on "+s.Target)
		}
		t.say("%s runs on several targets (%s): which one?", name, strings.Join(where, ", "))
		return nil, false
	}
	s := match[0]
	if t.parsed.Intent.Mutating && t.cached {
		// A summary says "from 2 to 3": it needs the state of now, not the cache's.
		fresh, err := t.e.cfg.Backend.GetService(t.ctx, query(s))
		if err != nil {
			t.say("%s", berth.ErrorMessage(err))
			return nil, false
		}
		s = fresh
	}
	t.conv = convo{Kind: "service", Name: strings.ToLower(s.Name), Target: s.Target, Namespace: s.Namespace}
	return s, true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// replaceWord rewrites msg with one word corrected (case-insensitively).
func replaceWord(msg, from, to string) string {
	re, err := regexp.Compile(`(?i)\b` + regexp.QuoteMeta(from) + `\b`)
	if err != nil {
		return msg
	}
	return re.ReplaceAllLiteralString(msg, to)
}

func (t *turn) someServices() []string {
	var out []string
	for _, s := range t.svcs {
		if len(out) == 4 {
			break
		}
		out = append(out, "status of "+s.Name)
	}
	if len(out) == 0 {
		out = []string{"what's running"}
	}
	return out
}

func query(s *berth.Service) core.ServiceQuery {
	return core.ServiceQuery{Name: s.Name, Target: s.Target, Namespace: s.Namespace}
}

func (t *turn) status() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	full, err := t.e.cfg.Backend.GetService(t.ctx, query(s))
	if err != nil {
		return t.refused(err)
	}
	t.say("%s", serviceLine(full))
	if full.Message != "" {
		t.say("Message: %s", full.Message)
	}
	if r := restarts(full); r > 0 {
		t.say("Restarts: %d", r)
	}
	t.resp.Suggestions = []string{"logs of " + s.Name, "why is " + s.Name + " failing", "restart it"}
	return nil
}

func restarts(s *berth.Service) int {
	n := 0
	for _, in := range s.Instances {
		n += in.Restarts
	}
	return n
}

// errorLine picks the lines that say something went wrong.
var errorLine = regexp.MustCompile(`(?i)\b(error|err|fail(ed|ure)?|panic|fatal|exception|traceback|refused|denied|killed|crash(ed)?|cannot|can't|unable|timeout|timed out)\b`)

func (t *turn) diagnose() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	full, err := t.e.cfg.Backend.GetService(t.ctx, query(s))
	if err != nil {
		return t.refused(err)
	}
	t.say("%s", serviceLine(full))
	if full.Stopped {
		t.say("It is stopped: someone stopped it (start it to run it again).")
	}
	if full.Message != "" {
		t.say("Message: %s", full.Message)
	}
	var exits []string
	for _, in := range full.Instances {
		if in.LastExit != "" {
			exits = append(exits, fmt.Sprintf("%s: %s (%s, %d restarts)", in.Name, in.LastExit, in.State, in.Restarts))
		}
	}
	if len(exits) > 0 {
		t.say("Last exit: %s", strings.Join(exits, "; "))
	}
	t.say("Restarts: %d", restarts(full))
	for i, ev := range full.Events {
		if i == 3 {
			break
		}
		t.say("Event: %s", eventLine(ev))
	}
	var errs []string
	_, lerr := t.e.cfg.Backend.ServiceLogs(t.ctx, query(s), berth.LogOptions{Tail: 500}, func(l berth.LogLine) error {
		if errorLine.MatchString(l.Line) {
			errs = append(errs, l.Replica+": "+l.Line)
		}
		return nil
	})
	switch {
	case lerr != nil:
		t.say("Logs: %s", berth.ErrorMessage(lerr))
	case len(errs) == 0:
		t.say("No error lines in its recent logs.")
	default:
		t.say("Last error lines of its logs:")
		for _, l := range errs[max(0, len(errs)-5):] {
			t.say("  %s", Redact(l))
		}
	}
	t.resp.Suggestions = []string{"logs of " + s.Name, "restart " + s.Name, "roll back " + s.Name}
	t.diagnoseAdvice(full)
	return nil
}

func eventLine(ev berth.WorkloadEvent) string {
	line := fmt.Sprintf("%s %s %s: %s", ev.Time.UTC().Format(time.TimeOnly), ev.Type, ev.Reason, ev.Message)
	if ev.Count > 1 {
		line += fmt.Sprintf(" (×%d)", ev.Count)
	}
	return Redact(line)
}

func (t *turn) logs(errorsOnly bool) error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	opts := berth.LogOptions{Tail: 50}
	if t.parsed.Since > 0 {
		opts = berth.LogOptions{Since: t.e.cfg.Now().Add(-t.parsed.Since), Tail: 5000}
	}
	if errorsOnly && opts.Since.IsZero() {
		opts.Tail = 1000
	}
	var lines []string
	_, err := t.e.cfg.Backend.ServiceLogs(t.ctx, query(s), opts, func(l berth.LogLine) error {
		if !errorsOnly || errorLine.MatchString(l.Line) {
			lines = append(lines, l.Time.UTC().Format(time.TimeOnly)+" "+l.Replica+" "+Redact(l.Line))
		}
		return nil
	})
	if err != nil {
		return t.refused(err)
	}
	what, when := "lines", ""
	if errorsOnly {
		what = "error lines"
	}
	if t.parsed.Since > 0 {
		when = " in the last " + humanDuration(t.parsed.Since)
	}
	if len(lines) == 0 {
		t.say("No %s from %s%s.", what, s.Name, when)
		return nil
	}
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	t.say("The last %d %s from %s%s:", len(lines), what, s.Name, when)
	t.resp.Code = &api.ChatCode{Language: "text", Content: strings.Join(lines, "\n")}
	return nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

func (t *turn) revisions() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	revs, err := t.e.cfg.Backend.ListRevisions(t.ctx, query(s))
	if err != nil {
		return t.refused(err)
	}
	for i, r := range revs {
		if i == 10 {
			break
		}
		cur := ""
		if r.Number == s.Revision {
			cur = " (current)"
		}
		t.say("revision %d%s: %s by %s at %s", r.Number, cur, r.Cause, r.Author, r.CreatedAt.UTC().Format("2006-01-02 15:04"))
	}
	return nil
}

// environment resolves the environment argument by name or id.
func (t *turn) environment() (*berth.Environment, bool) {
	name := t.parsed.Args["env"]
	var match []*berth.Environment
	for _, e := range t.envs {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.ID, name) {
			match = append(match, e)
		}
	}
	typo := t.parsed.Typos["env"]
	switch {
	case len(match) == 0:
		t.say("You have no environment called %s.", name)
		t.resp.Suggestions = []string{"show environments"}
		return nil, false
	case typo != "" && !t.parsed.Intent.Mutating:
		t.say("There is no environment %s. Did you mean %s?", typo, name)
		t.resp.Suggestions = []string{replaceWord(t.msg, typo, name)}
		return nil, false
	case len(match) > 1:
		t.say("Several environments are called %s: name one by id.", name)
		for _, e := range match {
			t.resp.Suggestions = append(t.resp.Suggestions, replaceWord(t.msg, name, e.ID))
		}
		return nil, false
	}
	t.conv = convo{Kind: "environment", Name: strings.ToLower(match[0].Name)}
	return match[0], true
}

func (t *turn) envStatus() error {
	e, ok := t.environment()
	if !ok {
		return nil
	}
	t.say("%s (%s) on %s: %s, %d cores, %d GB memory, %d GB storage", e.Name, e.ID, e.Target, e.Status, e.CPUCores, e.MemoryGB, e.StorageGB)
	if e.Message != "" {
		t.say("Message: %s", e.Message)
	}
	return nil
}
