package client

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/berthhq/berth"
)

// LoginResult is the answer of POST /api/v1/auth/login.
type LoginResult struct {
	Token     string     `json:"token"`
	ExpiresAt time.Time  `json:"expiresAt"`
	User      berth.User `json:"user"`
}

// Login exchanges a username and password for a session token. It does not
// change the client's credential: call SetToken with the result.
func (c *Client) Login(ctx context.Context, username, password string) (*LoginResult, error) {
	var out LoginResult
	err := c.do(ctx, "POST", "/api/v1/auth/login", nil, map[string]string{"username": username, "password": password}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout revokes the client's session token.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, "POST", "/api/v1/auth/logout", nil, nil, nil)
}

// Me returns the user behind the client's credential.
func (c *Client) Me(ctx context.Context) (*berth.User, error) {
	var out struct {
		User *berth.User `json:"user"`
	}
	if err := c.do(ctx, "GET", "/api/v1/auth/me", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.User, nil
}

// EnvironmentList is one page of environments.
type EnvironmentList struct {
	Environments []*berth.Environment `json:"environments"`
	Total        int                  `json:"total"`
	Page         int                  `json:"page"`
	PageSize     int                  `json:"pageSize"`
}

// CreateEnvironment creates an environment; it starts in CREATING.
func (c *Client) CreateEnvironment(ctx context.Context, req berth.CreateEnvironmentRequest) (*berth.Environment, error) {
	var out struct {
		Environment *berth.Environment `json:"environment"`
	}
	if err := c.do(ctx, "POST", "/api/v1/environments", nil, req, &out); err != nil {
		return nil, err
	}
	return out.Environment, nil
}

// ListEnvironments returns one page of the caller's environments.
func (c *Client) ListEnvironments(ctx context.Context, o ListOptions) (*EnvironmentList, error) {
	var out EnvironmentList
	if err := c.do(ctx, "GET", "/api/v1/environments", o.values(), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetEnvironment returns one environment by id.
func (c *Client) GetEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	var out struct {
		Environment *berth.Environment `json:"environment"`
	}
	if err := c.do(ctx, "GET", "/api/v1/environments/"+esc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Environment, nil
}

// EnvOpening is the answer of POST /api/v1/environments/{id}/open.
type EnvOpening struct {
	URL       string     `json:"url"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Proxied   bool       `json:"proxied"`
}

// OpenEnvironment answers a URL that opens the environment in a browser:
// through berth's proxy with a single-use ticket, or its own URL.
func (c *Client) OpenEnvironment(ctx context.Context, id string) (*EnvOpening, error) {
	var out EnvOpening
	if err := c.do(ctx, "POST", "/api/v1/environments/"+esc(id)+"/open", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartEnvironment starts a stopped environment.
func (c *Client) StartEnvironment(ctx context.Context, id string) (*Ack, error) {
	return c.ack(ctx, "POST", "/api/v1/environments/"+esc(id)+"/start", nil, nil)
}

// StopEnvironment stops an environment, keeping its workspace.
func (c *Client) StopEnvironment(ctx context.Context, id string) (*Ack, error) {
	return c.ack(ctx, "POST", "/api/v1/environments/"+esc(id)+"/stop", nil, nil)
}

// DeleteEnvironment deletes an environment and, unless keepVolume, its workspace.
func (c *Client) DeleteEnvironment(ctx context.Context, id string, keepVolume bool) (*Ack, error) {
	var q url.Values
	if keepVolume {
		q = url.Values{"keepVolume": {"true"}}
	}
	return c.ack(ctx, "DELETE", "/api/v1/environments/"+esc(id), q, nil)
}

func (c *Client) ack(ctx context.Context, method, path string, q url.Values, in any) (*Ack, error) {
	var out Ack
	if err := c.do(ctx, method, path, q, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ServiceList is one page of services.
type ServiceList struct {
	Services []*berth.Service `json:"services"`
	Total    int              `json:"total"`
	Page     int              `json:"page"`
	PageSize int              `json:"pageSize"`
	// Unreachable are targets whose own services could not be listed.
	Unreachable []struct {
		Name  string `json:"name"`
		Error string `json:"error"`
	} `json:"unreachable,omitempty"`
}

// ServiceResult is the answer of calls that change a service.
type ServiceResult struct {
	Service *berth.Service `json:"service"`
	Message string         `json:"message,omitempty"`
}

// ListServices returns one page of services, of one target when target is set.
func (c *Client) ListServices(ctx context.Context, target string, o ListOptions) (*ServiceList, error) {
	q := o.values()
	if target != "" {
		q.Set("target", target)
	}
	var out ServiceList
	if err := c.do(ctx, "GET", "/api/v1/services", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// svcPath returns the path and query naming a service; Target and
// Namespace of ref narrow the lookup when set.
func svcPath(ref berth.ServiceRef, suffix string) (string, url.Values) {
	q := url.Values{}
	if ref.Target != "" {
		q.Set("target", ref.Target)
	}
	if ref.Namespace != "" {
		q.Set("namespace", ref.Namespace)
	}
	return "/api/v1/services/" + esc(ref.Name) + suffix, q
}

// GetService returns one service.
func (c *Client) GetService(ctx context.Context, ref berth.ServiceRef) (*berth.Service, error) {
	p, q := svcPath(ref, "")
	var out ServiceResult
	if err := c.do(ctx, "GET", p, q, nil, &out); err != nil {
		return nil, err
	}
	return out.Service, nil
}

// ApplyService creates or updates the service name with spec. created
// reports whether the service is new.
func (c *Client) ApplyService(ctx context.Context, name string, spec berth.ServiceSpec) (res *ServiceResult, created bool, err error) {
	p, _ := svcPath(berth.ServiceRef{Name: name}, "")
	resp, err := c.send(ctx, "PUT", p, nil, spec, "application/json")
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	res = &ServiceResult{}
	if err := decodeBody(ctx, resp, res); err != nil {
		return nil, false, fmt.Errorf("PUT %s: %w", p, err)
	}
	return res, resp.StatusCode == 201, nil
}

// DeleteService removes a service from its runtime and from berth.
func (c *Client) DeleteService(ctx context.Context, ref berth.ServiceRef) (*Ack, error) {
	p, q := svcPath(ref, "")
	return c.ack(ctx, "DELETE", p, q, nil)
}

func (c *Client) svcAction(ctx context.Context, ref berth.ServiceRef, action string, in any) (*ServiceResult, error) {
	p, q := svcPath(ref, "/"+action)
	var out ServiceResult
	if err := c.do(ctx, "POST", p, q, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartService starts a stopped service with its remembered replicas.
func (c *Client) StartService(ctx context.Context, ref berth.ServiceRef) (*ServiceResult, error) {
	return c.svcAction(ctx, ref, "start", nil)
}

// StopService stops every replica and keeps the spec.
func (c *Client) StopService(ctx context.Context, ref berth.ServiceRef) (*ServiceResult, error) {
	return c.svcAction(ctx, ref, "stop", nil)
}

// RestartService restarts the replicas one at a time.
func (c *Client) RestartService(ctx context.Context, ref berth.ServiceRef) (*ServiceResult, error) {
	return c.svcAction(ctx, ref, "restart", nil)
}

// ScaleService sets the desired replicas.
func (c *Client) ScaleService(ctx context.Context, ref berth.ServiceRef, replicas int) (*ServiceResult, error) {
	return c.svcAction(ctx, ref, "scale", map[string]int{"replicas": replicas})
}

// RollbackService rolls back to revision, or to the previous one when revision is 0.
func (c *Client) RollbackService(ctx context.Context, ref berth.ServiceRef, revision int) (*ServiceResult, error) {
	body := map[string]int{}
	if revision > 0 {
		body["revision"] = revision
	}
	return c.svcAction(ctx, ref, "rollback", body)
}

// ListRevisions returns the stored revisions of a service, newest first.
func (c *Client) ListRevisions(ctx context.Context, ref berth.ServiceRef) ([]*berth.Revision, error) {
	p, q := svcPath(ref, "/revisions")
	var out struct {
		Revisions []*berth.Revision `json:"revisions"`
	}
	if err := c.do(ctx, "GET", p, q, nil, &out); err != nil {
		return nil, err
	}
	return out.Revisions, nil
}

// ServiceConfig is the revisioned configuration of a service.
type ServiceConfig struct {
	Config   berth.Config      `json:"config"`
	Env      map[string]string `json:"env"`
	Revision int               `json:"revision"`
}

// GetConfig returns the configuration files and environment of a service.
func (c *Client) GetConfig(ctx context.Context, ref berth.ServiceRef) (*ServiceConfig, error) {
	p, q := svcPath(ref, "/config")
	var out ServiceConfig
	if err := c.do(ctx, "GET", p, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateConfig replaces the files and/or the environment of a service; a
// nil map leaves that part as it is. A change makes a new revision.
func (c *Client) UpdateConfig(ctx context.Context, ref berth.ServiceRef, files, env map[string]string) (*ServiceResult, error) {
	p, q := svcPath(ref, "/config")
	body := map[string]map[string]string{}
	if files != nil {
		body["files"] = files
	}
	if env != nil {
		body["env"] = env
	}
	var out ServiceResult
	if err := c.do(ctx, "PUT", p, q, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditQuery filters the audit log; Since is RFC 3339 or a duration ("1h").
type AuditQuery struct {
	Type, Status, User, Since string
	ListOptions
}

// AuditList is one page of the audit log, newest first.
type AuditList struct {
	Logs     []*berth.AuditEntry `json:"logs"`
	Total    int                 `json:"total"`
	Page     int                 `json:"page"`
	PageSize int                 `json:"pageSize"`
}

// ListAudit reads the audit log.
func (c *Client) ListAudit(ctx context.Context, f AuditQuery) (*AuditList, error) {
	q := f.values()
	for k, v := range map[string]string{"type": f.Type, "status": f.Status, "user": f.User, "since": f.Since} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out AuditList
	if err := c.do(ctx, "GET", "/api/v1/logs", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreatedAPIKey is a new key; Key is the full credential, shown only once.
type CreatedAPIKey struct {
	APIKey *berth.APIKey `json:"apiKey"`
	Key    string        `json:"key"`
}

// CreateAPIKey creates an API key for the caller. role "" takes the caller's
// role; expiresInDays 0 never expires.
func (c *Client) CreateAPIKey(ctx context.Context, name string, role berth.Role, expiresInDays int) (*CreatedAPIKey, error) {
	body := map[string]any{"name": name}
	if role != "" {
		body["role"] = role
	}
	if expiresInDays > 0 {
		body["expiresInDays"] = expiresInDays
	}
	var out CreatedAPIKey
	if err := c.do(ctx, "POST", "/api/v1/apikeys", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAPIKeys returns the API keys (never their secrets).
func (c *Client) ListAPIKeys(ctx context.Context) ([]*berth.APIKey, error) {
	var out struct {
		APIKeys []*berth.APIKey `json:"apiKeys"`
	}
	if err := c.do(ctx, "GET", "/api/v1/apikeys", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.APIKeys, nil
}

// DeleteAPIKey revokes an API key.
func (c *Client) DeleteAPIKey(ctx context.Context, id string) (*Ack, error) {
	return c.ack(ctx, "DELETE", "/api/v1/apikeys/"+esc(id), nil, nil)
}

// ListUsers returns every user (admin).
func (c *Client) ListUsers(ctx context.Context) ([]*berth.User, error) {
	var out struct {
		Users []*berth.User `json:"users"`
	}
	if err := c.do(ctx, "GET", "/api/v1/users", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// CreateUser creates a user (admin).
func (c *Client) CreateUser(ctx context.Context, username, password string, role berth.Role) (*berth.User, error) {
	var out struct {
		User *berth.User `json:"user"`
	}
	body := map[string]any{"username": username, "password": password, "role": role}
	if err := c.do(ctx, "POST", "/api/v1/users", nil, body, &out); err != nil {
		return nil, err
	}
	return out.User, nil
}

// DeleteUser deletes a user and their API keys (admin).
func (c *Client) DeleteUser(ctx context.Context, id string) (*Ack, error) {
	return c.ack(ctx, "DELETE", "/api/v1/users/"+esc(id), nil, nil)
}

// Targets lists the configured targets, each with its capabilities.
func (c *Client) Targets(ctx context.Context) ([]berth.TargetInfo, error) {
	var out struct {
		Targets []berth.TargetInfo `json:"targets"`
	}
	if err := c.do(ctx, "GET", "/api/v1/targets", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Targets, nil
}
