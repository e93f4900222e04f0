package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

// typoNote says, in a summary, that a name was corrected.
func (t *turn) typoNote(arg string) string {
	if w := t.parsed.Typos[arg]; w != "" {
		return fmt.Sprintf(" (you wrote %q)", w)
	}
	return ""
}

func where(s *berth.Service) string {
	if s.Namespace != "" {
		return s.Target + ", namespace " + s.Namespace
	}
	return s.Target
}

func (t *turn) scale() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	n, _ := strconv.Atoi(t.parsed.Args["n"])
	to := n
	switch t.parsed.Intent.Name {
	case "service.scale-up":
		to = s.Replicas + n
	case "service.scale-down":
		to = s.Replicas - n
		if to < 0 {
			t.say("%s has %d replicas: I cannot remove %d.", s.Name, s.Replicas, n)
			return nil
		}
	}
	if to == s.Replicas {
		t.say("%s on %s already wants %d replicas: nothing to do.", s.Name, where(s), to)
		return nil
	}
	return t.propose(plan{Intent: t.parsed.Intent.Name, Ref: s.Ref(), Replicas: to}.pinned(s),
		fmt.Sprintf("scale %s%s on %s from %d to %d replicas", s.Name, t.typoNote("service"), where(s), s.Replicas, to))
}

// simple proposes restart, stop, start or delete of a service.
func (t *turn) simple() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	verb := strings.TrimPrefix(t.parsed.Intent.Name, "service.")
	switch {
	case verb == "stop" && s.Stopped:
		t.say("%s on %s is already stopped.", s.Name, where(s))
		return nil
	case verb == "start" && !s.Stopped && s.Status == berth.ServiceRunning:
		t.say("%s on %s is already running.", s.Name, where(s))
		return nil
	}
	summary := fmt.Sprintf("%s %s%s on %s", verb, s.Name, t.typoNote("service"), where(s))
	switch verb {
	case "restart":
		summary = fmt.Sprintf("restart the %d replicas of %s%s on %s, one at a time", s.Replicas, s.Name, t.typoNote("service"), where(s))
	case "delete":
		summary = fmt.Sprintf("delete service %s%s on %s with its %d replicas and every revision", s.Name, t.typoNote("service"), where(s), s.Replicas)
	}
	return t.propose(plan{Intent: t.parsed.Intent.Name, Ref: s.Ref()}.pinned(s), summary)
}

func (t *turn) rollback() error {
	s, ok := t.service()
	if !ok {
		return nil
	}
	rev, _ := strconv.Atoi(t.parsed.Args["revision"])
	revs, err := t.e.cfg.Backend.ListRevisions(t.ctx, query(s))
	if err != nil {
		return t.refused(err)
	}
	var known []string
	to := 0
	for _, r := range revs { // newest first, as core picks the previous one
		known = append(known, strconv.Itoa(r.Number))
		if (rev == 0 && r.Number < s.Revision && to == 0) || (rev != 0 && r.Number == rev) {
			to = r.Number
		}
	}
	switch {
	case rev != 0 && rev == s.Revision:
		t.say("%s already runs revision %d.", s.Name, rev)
		return nil
	case to == 0 && rev != 0:
		t.say("%s has no revision %d; its revisions: %s.", s.Name, rev, strings.Join(known, ", "))
		return nil
	case to == 0:
		t.say("%s has no revision before %d to roll back to.", s.Name, s.Revision)
		return nil
	}
	return t.propose(plan{Intent: "service.rollback", Ref: s.Ref(), Revision: to}.pinned(s),
		fmt.Sprintf("roll %s%s on %s back from revision %d to revision %d (as a new revision)", s.Name, t.typoNote("service"), where(s), s.Revision, to))
}

func (t *turn) createEnvironment() error {
	name := t.parsed.Args["name"]
	req := berth.CreateEnvironmentRequest{Name: name, Target: t.parsed.Args["target"]}
	if c := t.parsed.Args["cores"]; c != "" {
		req.CPUCores, _ = strconv.Atoi(c)
	}
	if m := t.parsed.Args["memory"]; m != "" {
		gb, ok := strings.CutSuffix(m, "Gi")
		if !ok {
			t.say("Environments take memory in whole GB (1 to %d), not %s.", berth.MaxMemoryGB, m)
			return nil
		}
		req.MemoryGB, _ = strconv.Atoi(gb)
	}
	// Core checks the request again when it is confirmed; checking a copy
	// now answers a bad size at once and makes the summary say the defaults.
	chk := req
	if err := chk.Normalize(); err != nil {
		t.say("%s", berth.ErrorMessage(err))
		return nil
	}
	target := req.Target
	if target == "" {
		target = t.defaultTarget().Name
	}
	cores, mem := chk.CPUCores, chk.MemoryGB
	t.conv = convo{Kind: "environment", Name: name}
	return t.propose(plan{Intent: "environment.create", EnvName: name, EnvReq: &req},
		fmt.Sprintf("create environment %s on %s with %d core%s and %d GB memory", name, target, cores, plural(cores), mem))
}

func (t *turn) defaultTarget() berth.TargetInfo {
	ts := t.e.cfg.Backend.Targets()
	for _, ti := range ts {
		if ti.Default {
			return ti
		}
	}
	if len(ts) > 0 {
		return ts[0]
	}
	return berth.TargetInfo{}
}

func (t *turn) envAction() error {
	e, ok := t.environment()
	if !ok {
		return nil
	}
	verb := strings.TrimPrefix(t.parsed.Intent.Name, "environment.")
	summary := fmt.Sprintf("%s environment %s%s (%s) on %s", verb, e.Name, t.typoNote("env"), e.ID, e.Target)
	if verb == "delete" {
		summary += ", with its storage"
	}
	return t.propose(plan{Intent: t.parsed.Intent.Name, EnvID: e.ID, EnvName: e.Name}, summary)
}

func (t *turn) generate() error {
	image := t.parsed.Args["image"]
	ti := t.defaultTarget()
	if name := t.parsed.Args["target"]; name != "" {
		for _, x := range t.e.cfg.Backend.Targets() {
			if strings.EqualFold(x.Name, name) {
				ti = x
			}
		}
	}
	version := t.parsed.Args["version"]
	if version == "" {
		version = versionAfter(t.msg, image, t.parsed.Typos["image"])
	}
	gen, err := generate(image, version, t.parsed.Args["memory"], t.parsed.Args["name"], ti)
	if err != nil {
		return t.refused(err)
	}
	y, err := specYAML(gen)
	if err != nil {
		return fmt.Errorf("chat: write spec: %w", err)
	}
	lead := fmt.Sprintf("Here is a spec for %s on %s (%s)", gen.Name, ti.Name, strings.ToLower(ti.Provider))
	if ti.Provider == berth.ProviderKubernetes {
		m, err := manifests(gen, ti.DefaultNamespace)
		if err != nil {
			return fmt.Errorf("chat: write manifests: %w", err)
		}
		y += "---\n# The equivalent Kubernetes manifests (kubectl apply -f), for reference:\n" + m
		lead += ", and after it the equivalent Kubernetes manifests"
	}
	t.say("%s. Say \"apply it\" to create it.", lead)
	if len(gen.Spec.Secrets) > 0 {
		t.say("Its secrets are placeholders (%s): set them before applying or update them after.", Placeholder)
	}
	t.resp.Code = &api.ChatCode{Language: "yaml", Content: y}
	t.resp.Suggestions = []string{"apply it"}
	t.conv = convo{Kind: "generated", Name: gen.Name, Target: ti.Name, Gen: gen}
	return nil
}

// versionAfter is the version written right after the image's name
// ("postgres 16", "redis:7.2").
func versionAfter(msg, image, typo string) string {
	toks, _, _ := tokens(msg)
	for i, w := range toks {
		name, ver, _ := strings.Cut(w, ":")
		if name != image && name != typo && imageAliases[name] != image {
			continue
		}
		if ver == "" && i+1 < len(toks) {
			ver = toks[i+1]
		}
		if ver != "" && ver[0] >= '0' && ver[0] <= '9' && len(ver) <= 20 {
			return ver
		}
	}
	return ""
}

func (t *turn) applyGenerated() error {
	gen := t.conv.Gen
	if gen == nil {
		t.say("There is nothing to apply: ask for a spec first, e.g. \"create a redis service\".")
		t.resp.Suggestions = []string{"create a redis service", "a postgres 16 with 2Gi"}
		return nil
	}
	verb := "create"
	p := plan{Intent: "service.apply", Gen: gen, New: true}
	cur, err := t.e.cfg.Backend.GetService(t.ctx, core.ServiceQuery{Name: gen.Name, Target: gen.Spec.Target})
	switch {
	case err == nil:
		verb, p.New = "update", false
		p = p.pinned(cur)
	case !berth.IsCode(err, berth.ENOTFOUND):
		return t.refused(err)
	}
	return t.propose(p,
		fmt.Sprintf("%s service %s on %s from the generated spec", verb, gen.Name, gen.Spec.Target))
}

// execute does a confirmed plan through core, as the caller, and says what happened.
func (e *Engine) execute(ctx context.Context, p plan) Executed {
	start := e.cfg.Now()
	in := intentByName(p.Intent)
	if in == nil || !in.Mutating {
		return finish(Executed{Action: api.ChatAction{Action: "chat." + p.Intent}, Details: map[string]any{"via": "chat"}}, "",
			berth.Errorf(berth.EINVALID, "confirm: %q is no action this berth does", p.Intent), 0)
	}
	ex := Executed{Action: api.ChatAction{Action: in.Action, Target: p.Ref.Target, Subject: p.Ref.Name},
		Resource: p.Ref.Name, Type: "service", Details: map[string]any{"via": "chat"}}
	b := e.cfg.Backend
	q := core.ServiceQuery{Name: p.Ref.Name, Target: p.Ref.Target, Namespace: p.Ref.Namespace, Revision: p.At}
	var err error
	var result string
	switch p.Intent {
	case "service.scale", "service.scale-up", "service.scale-down":
		ex.Details["replicas"] = p.Replicas
		_, err = b.ScaleService(ctx, q, p.Replicas)
		result = fmt.Sprintf("%s on %s scaled to %d replicas", p.Ref.Name, p.Ref.Target, p.Replicas)
	case "service.restart":
		_, err = b.RestartService(ctx, q)
		result = fmt.Sprintf("%s on %s is restarting", p.Ref.Name, p.Ref.Target)
	case "service.stop":
		_, err = b.StopService(ctx, q)
		result = fmt.Sprintf("%s on %s stopped", p.Ref.Name, p.Ref.Target)
	case "service.start":
		_, err = b.StartService(ctx, q)
		result = fmt.Sprintf("%s on %s started", p.Ref.Name, p.Ref.Target)
	case "service.rollback":
		ex.Details["toRevision"] = p.Revision
		var s *berth.Service
		s, err = b.RollbackService(ctx, q, p.Revision)
		if err == nil {
			ex.Details["revision"] = s.Revision
			result = fmt.Sprintf("%s on %s rolled back to revision %d (now revision %d)", p.Ref.Name, p.Ref.Target, p.Revision, s.Revision)
		}
	case "service.delete":
		_, err = b.DeleteService(ctx, q)
		result = fmt.Sprintf("%s on %s deleted", p.Ref.Name, p.Ref.Target)
	case "service.apply":
		ex.Action.Subject, ex.Resource, ex.Action.Target = p.Gen.Name, p.Gen.Name, p.Gen.Spec.Target
		ex.Details["revisionSpec"] = p.Gen.Spec.Redacted() // as PUT's entry: never a secret value
		var s *berth.Service
		var created bool
		s, created, err = b.ApplyServiceIf(ctx, p.Gen.Name, p.Gen.Spec, core.ApplyCondition{Revision: p.At, Absent: p.New})
		if err == nil {
			ex.Details["revision"] = s.Revision
			ex.Action.Target = s.Target
			result = fmt.Sprintf("%s on %s updated (revision %d)", s.Name, s.Target, s.Revision)
			if created {
				result = fmt.Sprintf("%s on %s created", s.Name, s.Target)
			}
		}
	case "recommendation.apply", "recommendation.reject":
		return e.executeRec(ctx, p, ex, start)
	default:
		return e.executeEnv(ctx, p, ex, start)
	}
	return finish(ex, result, err, e.cfg.Now().Sub(start))
}

func (e *Engine) executeEnv(ctx context.Context, p plan, ex Executed, start time.Time) Executed {
	b := e.cfg.Backend
	ex.Type, ex.Resource, ex.Action.Subject = "environment", p.EnvID, p.EnvName
	var env *berth.Environment
	var err error
	var result string
	switch p.Intent {
	case "environment.create":
		env, err = b.CreateEnvironment(ctx, *p.EnvReq)
		if err == nil {
			ex.Resource, ex.Action.Target = env.ID, env.Target
			ex.Details["cpuCores"], ex.Details["memoryGB"] = env.CPUCores, env.MemoryGB
			result = fmt.Sprintf("environment %s (%s) is being created on %s", env.Name, env.ID, env.Target)
		}
	case "environment.start":
		env, err = b.StartEnvironment(ctx, p.EnvID)
		result = fmt.Sprintf("environment %s is starting", p.EnvName)
	case "environment.stop":
		env, err = b.StopEnvironment(ctx, p.EnvID)
		result = fmt.Sprintf("environment %s is stopping", p.EnvName)
	case "environment.delete":
		env, err = b.DeleteEnvironment(ctx, p.EnvID, false)
		result = fmt.Sprintf("environment %s deleted", p.EnvName)
	default:
		err = fmt.Errorf("chat: no way to execute %s", p.Intent)
	}
	if env != nil {
		ex.Action.Target = env.Target
	}
	return finish(ex, result, err, e.cfg.Now().Sub(start))
}

func finish(ex Executed, result string, err error, d time.Duration) Executed {
	ex.Duration = d
	ex.Action.Status, ex.Action.Result = berth.AuditCompleted, result
	if err != nil {
		ex.Action.Status, ex.Action.Result = berth.AuditFailed, berth.ErrorMessage(err)
	}
	return ex
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
