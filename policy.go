package berth

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// TargetPolicy is the admin's word on what runs on a target (berth.yaml):
// which roles may run arbitrary commands there, and the service templates
// everyone else instantiates instead (Nomad keeps raw_exec off by default;
// berth keeps arbitrary commands on a local target to admins by default).
type TargetPolicy struct {
	// CommandRoles may run any command (or image) on the target; nil: every
	// role may (the default of targets whose workloads do not run on berth's
	// host). Local targets default to admin only.
	CommandRoles []Role
	// ServiceTemplates by name.
	ServiceTemplates map[string]ServiceTemplate
}

// ServiceTemplate is an admin-defined service: what it runs and which
// parameters a user who instantiates it may set. It is never encoded as
// JSON: clients see its TemplateInfo, not the admin's command.
type ServiceTemplate struct {
	Command     []string          `json:"-"`
	Image       string            `json:"-"`
	WorkingDir  string            `json:"-"`
	Env         map[string]string `json:"-"` // defaults; allowed names may override them
	Ports       []Port            `json:"-"`
	Replicas    *int              `json:"-"`
	HealthCheck *HealthCheck      `json:"-"`
	Resources   Resources         `json:"-"`
	Params      TemplateParams    `json:"-"`
}

// TemplateParams are the parts of a spec a user may set when instantiating
// a template.
type TemplateParams struct {
	Env       []string `json:"env,omitempty"`       // env (and secret) names
	Replicas  bool     `json:"replicas,omitempty"`  // spec.replicas
	Ports     bool     `json:"ports,omitempty"`     // spec.ports (replacing the template's)
	Config    bool     `json:"config,omitempty"`    // spec.config.files
	Resources bool     `json:"resources,omitempty"` // spec.resources
}

// TemplateInfo is a template as GET /api/v1/targets shows it: its name and
// what an instantiating user may set (the command stays the admin's).
type TemplateInfo struct {
	Name   string         `json:"name"`
	Params TemplateParams `json:"params"`
}

// Allows reports whether role may run arbitrary commands under p.
func (p TargetPolicy) Allows(role Role) bool {
	return p.CommandRoles == nil || slices.Contains(p.CommandRoles, role)
}

// TemplateNames are the template names, sorted.
func (p TargetPolicy) TemplateNames() []string {
	names := slices.Collect(maps.Keys(p.ServiceTemplates))
	sort.Strings(names)
	return names
}

// Templates lists the templates as clients see them, sorted by name.
func (p TargetPolicy) Templates() []TemplateInfo {
	out := make([]TemplateInfo, 0, len(p.ServiceTemplates))
	for _, n := range p.TemplateNames() {
		out = append(out, TemplateInfo{Name: n, Params: p.ServiceTemplates[n].Params})
	}
	return out
}

// dangerousEnv are variables that make a program run other code than its
// command (the dynamic loader, shells, interpreters) or that berth sets on
// replicas itself. Only a role that may run commands may set them.
var dangerousEnv = map[string]bool{
	"BASH_ENV": true, "ENV": true, "PATH": true, "IFS": true, "SHELLOPTS": true, "BASHOPTS": true,
	"PS4": true, "PROMPT_COMMAND": true, "GCONV_PATH": true, "LOCPATH": true, "HOSTALIASES": true,
	"NODE_OPTIONS": true, "NODE_PATH": true, "PYTHONPATH": true, "PYTHONSTARTUP": true, "PYTHONHOME": true,
	"PYTHONINSPECT": true, "PERL5OPT": true, "PERL5LIB": true, "PERLLIB": true, "RUBYOPT": true,
	"RUBYLIB": true, "JAVA_TOOL_OPTIONS": true, "_JAVA_OPTIONS": true, "JDK_JAVA_OPTIONS": true,
	"HOME": true, "TMPDIR": true, "PORT": true, "GIT_SSH_COMMAND": true, "GIT_EXEC_PATH": true,
}

var dangerousEnvPrefixes = []string{"LD_", "DYLD_", "BERTH_", "MALLOC_", "GLIBC_"}

// DangerousEnvName reports whether setting the variable name can make a
// process run code other than its command (LD_PRELOAD, BASH_ENV, PATH…)
// or pose as something berth set (BERTH_*).
func DangerousEnvName(name string) bool {
	up := strings.ToUpper(name)
	if dangerousEnv[up] {
		return true
	}
	for _, p := range dangerousEnvPrefixes {
		if strings.HasPrefix(up, p) {
			return true
		}
	}
	return false
}

// Validate checks a template as configured (name is its key).
func (t ServiceTemplate) Validate(target, name string) error {
	where := fmt.Sprintf("target %s: serviceTemplates.%s", target, name)
	if err := ValidateDNSLabel("name", name); err != nil {
		return fmt.Errorf("%s: %s", where, ErrorMessage(err))
	}
	if len(t.Command) == 0 && t.Image == "" {
		return fmt.Errorf("%s: needs a command (local targets) or an image", where)
	}
	for _, n := range t.Params.Env {
		if err := ValidateEnvName("params.env", n); err != nil {
			return fmt.Errorf("%s: %s", where, ErrorMessage(err))
		}
		if DangerousEnvName(n) {
			return fmt.Errorf("%s: params.env: %s can make the service run other code than its command; "+
				"set it in the template's env instead", where, n)
		}
	}
	return nil
}
