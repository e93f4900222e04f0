package core

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/berthhq/berth"
)

// setPolicies keeps each target's policy. A local target runs workloads on
// berth's own host, so arbitrary commands there are for admins unless the
// admin says otherwise; other targets run them in containers elsewhere and
// allow every role unless commandRoles is configured.
func (c *Core) setPolicies(cfg map[string]berth.TargetPolicy) error {
	c.policies = map[string]berth.TargetPolicy{}
	for name := range cfg {
		if _, ok := c.runtimes[name]; !ok {
			return fmt.Errorf("core: policy for target %q, which is not configured", name)
		}
	}
	for name, rt := range c.runtimes {
		p := cfg[name]
		p.ServiceTemplates = maps.Clone(p.ServiceTemplates)
		p.CommandRoles = slices.Clone(p.CommandRoles)
		if p.CommandRoles == nil && rt.Info().Provider == berth.ProviderLocal {
			p.CommandRoles = []berth.Role{berth.RoleAdmin}
		}
		for _, r := range p.CommandRoles {
			if !r.Valid() {
				return fmt.Errorf("core: target %s: commandRoles: %q is not a role (viewer, operator, admin)", name, r)
			}
		}
		for tn, t := range p.ServiceTemplates {
			if err := t.Validate(name, tn); err != nil {
				return err
			}
		}
		c.policies[name] = p
	}
	return nil
}

// Policy returns the policy of a target.
func (c *Core) Policy(target string) berth.TargetPolicy { return c.policies[target] }

// commandRule names the policy in the words a refused user reads.
func commandRule(target string, p berth.TargetPolicy) string {
	roles := make([]string, 0, len(p.CommandRoles))
	for _, r := range p.CommandRoles {
		roles = append(roles, string(r))
	}
	who := strings.Join(roles, ", ")
	if who == "" {
		who = "no role"
	}
	msg := fmt.Sprintf("target %q lets only %s run commands (commandRoles)", target, who)
	if names := p.TemplateNames(); len(names) > 0 {
		return msg + "; use a service template: " + strings.Join(names, ", ")
	}
	return msg + "; it has no service templates: ask an admin for one"
}

// checkRunPolicy refuses a spec the caller may not run on the target: a
// command (or image) of their own where their role may not run commands,
// or a parameter the template does not let them set. cur is the service
// being changed (nil on create). Nothing is changed when it refuses.
func (c *Core) checkRunPolicy(a berth.Actor, target string, spec berth.ServiceSpec, cur *berth.Service) error {
	p := c.policies[target]
	if spec.Template != "" {
		if _, ok := p.ServiceTemplates[spec.Template]; !ok {
			return unknownTemplate(target, spec.Template, p)
		}
		for _, f := range []struct {
			field string
			set   bool
		}{{"command", len(spec.Command) > 0}, {"image", spec.Image != ""}, {"workingDir", spec.WorkingDir != ""}} {
			if f.set {
				return berth.Invalid(f.field, "service template %q gives what runs: leave %s out, or leave template out", spec.Template, f.field)
			}
		}
	}
	if p.Allows(a.Role) {
		return nil
	}
	if spec.Template == "" {
		return berth.Errorf(berth.EFORBIDDEN, "%s", commandRule(target, p))
	}
	field, msg := templateParams(spec, p.ServiceTemplates[spec.Template], cur)
	if field == "" {
		return nil
	}
	return &berth.Error{Code: berth.EFORBIDDEN, Field: field, Message: field + ": " + msg + " (" + commandRule(target, p) + ")"}
}

// templateParams says which field of spec sets what template t does not
// let its users set (its params), and why; "" when none does.
func templateParams(spec berth.ServiceSpec, t berth.ServiceTemplate, cur *berth.Service) (field, why string) {
	if field, why := templateVars(spec, t); field != "" {
		return field, why
	}
	name := spec.Template
	if spec.HealthCheck != nil && !sameJSON(spec.HealthCheck, t.HealthCheck) {
		return "healthCheck", fmt.Sprintf("template %q sets the health check", name)
	}
	if spec.Replicas != nil && !t.Params.Replicas {
		def := 1
		if t.Replicas != nil {
			def = *t.Replicas
		}
		if r := *spec.Replicas; r != def && (cur == nil || r != cur.Replicas) {
			return "replicas", fmt.Sprintf("template %q does not let you set replicas (params.replicas); scale the service instead", name)
		}
	}
	if len(spec.Ports) > 0 && !t.Params.Ports && !sameJSON(spec.Ports, t.Ports) {
		return "ports", fmt.Sprintf("template %q does not let you set ports (params.ports)", name)
	}
	if len(spec.Config.Files) > 0 && !t.Params.Config {
		return "config", fmt.Sprintf("template %q does not let you set config files (params.config)", name)
	}
	if spec.Resources != (berth.Resources{}) && !t.Params.Resources && spec.Resources != t.Resources {
		return "resources", fmt.Sprintf("template %q does not let you set resources (params.resources)", name)
	}
	return "", ""
}

// templateVars checks spec's env and secrets against template t: only the
// names of its params.env (or its own env defaults, unchanged), and never
// a variable that makes a service run other code than its command.
func templateVars(spec berth.ServiceSpec, t berth.ServiceTemplate) (field, why string) {
	for _, part := range []struct {
		field string
		vars  map[string]string
	}{{"env", spec.Env}, {"secrets", spec.Secrets}} {
		for _, k := range slices.Sorted(maps.Keys(part.vars)) {
			if berth.DangerousEnvName(k) {
				return part.field, fmt.Sprintf("%s can make a service run other code than its command", k)
			}
			if slices.Contains(t.Params.Env, k) {
				continue
			}
			if v, ok := t.Env[k]; ok && part.field == "env" && v == part.vars[k] {
				continue // the template's own default, as GET shows it
			}
			allowed := strings.Join(t.Params.Env, ", ")
			if allowed == "" {
				allowed = "none"
			}
			return part.field, fmt.Sprintf("template %q does not let you set %s (params.env: %s)", spec.Template, k, allowed)
		}
	}
	return "", ""
}

func unknownTemplate(target, name string, p berth.TargetPolicy) error {
	names := strings.Join(p.TemplateNames(), ", ")
	if names == "" {
		names = "none"
	}
	return berth.Invalid("template", "%q is not a service template of target %s (serviceTemplates: %s)", name, target, names)
}

// expand returns the spec to hand to the runtime: a template's instantiation
// becomes the template with the user's parameters laid over it. The stored
// spec stays the instantiation, so updates, config and rollback keep working
// and a template the admin changes reaches the service on its next revision
// (or restart of berth).
func (c *Core) expand(target string, spec berth.ServiceSpec) (berth.ServiceSpec, error) {
	if spec.Template == "" {
		return spec, nil
	}
	p := c.policies[target]
	t, ok := p.ServiceTemplates[spec.Template]
	if !ok {
		return spec, unknownTemplate(target, spec.Template, p)
	}
	out := spec
	out.Command, out.Image, out.WorkingDir = slices.Clone(t.Command), t.Image, t.WorkingDir
	out.Env = maps.Clone(t.Env)
	if len(spec.Env) > 0 && out.Env == nil {
		out.Env = map[string]string{}
	}
	maps.Copy(out.Env, spec.Env)
	if len(spec.Ports) == 0 {
		out.Ports = slices.Clone(t.Ports)
	}
	if spec.Replicas == nil && t.Replicas != nil {
		r := *t.Replicas
		out.Replicas = &r
	}
	if spec.HealthCheck == nil && t.HealthCheck != nil {
		hc := *t.HealthCheck
		out.HealthCheck = &hc
	}
	if spec.Resources == (berth.Resources{}) {
		out.Resources = t.Resources
	}
	return out, nil
}

// applyRuntime hands the service, its template expanded, to the runtime.
func (c *Core) applyRuntime(ctx context.Context, rt berth.Runtime, svc *berth.Service) error {
	spec, err := c.expand(svc.Target, svc.Spec)
	if err != nil {
		return err
	}
	run := *svc
	run.Spec = spec
	return rt.ApplyService(ctx, &run)
}

// sameJSON compares two values by their JSON form.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
