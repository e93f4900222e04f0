package berth

import (
	"sort"
	"strings"
)

// Container runtimes (ACI, Kubernetes) start an environment's workspace the
// same way; these are the rules they share.

// WorkspaceVars are the variables of an environment's workspace container,
// split into plain values and credentials, which runtimes keep secret (ACI
// SecureValues, a Kubernetes Secret). A credential wins over a plain value
// of the same name.
func (e *Environment) WorkspaceVars(workspacePath, agentBaseURL string) (plain, secret map[string]string) {
	plain = map[string]string{"ENVIRONMENT_ID": e.ID, "WORKSPACE_DIR": workspacePath}
	add := func(k, v string) {
		if v != "" {
			plain[k] = v
		}
	}
	add("BASE_IMAGE", e.BaseImage)
	add("GIT_USER_NAME", e.GitUserName)
	add("GIT_USER_EMAIL", e.GitUserEmail)
	add("AGENT_BASE_URL", agentBaseURL)
	secret = e.Secrets.EnvVars()
	for k, v := range e.Env {
		// The request's secrets say what is secret; the name and shape
		// rules are a safety net for a credential put in env by mistake.
		if IsSecretName(k) || IsSecretValue(v) {
			secret[k] = v
		} else {
			plain[k] = v
		}
	}
	for k := range secret {
		delete(plain, k)
	}
	return plain, secret
}

// IsSecretName says whether a variable is a credential: the activity token,
// anything named like a token, key or password.
func IsSecretName(k string) bool {
	u := strings.ToUpper(k)
	for _, s := range []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL",
		"DATABASE_URL", "CONNECTION_STRING", "CONNECTIONSTRING"} {
		if strings.Contains(u, s) {
			return true
		}
	}
	// Whole words only: PAT is a word of GH_PAT, not of PATH.
	for _, w := range strings.FieldsFunc(u, func(r rune) bool { return r == '_' || r == '-' || r == '.' }) {
		switch w {
		case "DSN", "AUTH", "PAT", "PWD", "PASS", "KEY", "CREDS", "COOKIE", "SESSION", "SAS":
			return true
		}
	}
	return false
}

// IsSecretValue says whether a value looks like a credential whatever its
// name: a URL with a password in it (postgres://user:pw@host/db).
func IsSecretValue(v string) bool {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, " /") {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	userinfo, _, ok := strings.Cut(host, "@")
	if !ok {
		userinfo, _, ok = strings.Cut(rest, "@") // a password may hold a '/'
		if !ok {
			return false
		}
	}
	_, pw, ok := strings.Cut(userinfo, ":")
	return ok && pw != ""
}

// WorkspaceImage picks the workspace image of e on a target: a baseImage
// that is a full reference ("ghcr.io/acme/ws:1", "acme/ws") wins, then the
// template's image, then the target's (def). A bare flavour such as Dev8's
// "node" stays a hint to the image (BASE_IMAGE).
func (e *Environment) WorkspaceImage(target, def string, templates map[string]string) (string, error) {
	if strings.Contains(e.BaseImage, "/") {
		return e.BaseImage, nil
	}
	if e.Template != "" && e.Template != "default" {
		img, ok := templates[e.Template]
		if !ok {
			names := make([]string, 0, len(templates))
			for k := range templates {
				names = append(names, k)
			}
			sort.Strings(names)
			return "", Invalid("template", "%q is not a template of target %s (templates: %s)", e.Template, target, strings.Join(names, ", "))
		}
		return img, nil
	}
	return def, nil
}
