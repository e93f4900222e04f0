package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// The API's bodies are package api's; these names keep the client's
// callers as they were.
type (
	// LoginResult is the answer of POST /api/v1/auth/login.
	LoginResult = api.LoginResult
	// EnvironmentList is one page of environments.
	EnvironmentList = api.EnvironmentList
	// EnvOpening is the answer of POST /api/v1/environments/{id}/open.
	EnvOpening = api.EnvOpening
	// ServiceList is one page of services.
	ServiceList = api.ServiceList
	// ServiceResult is the answer of calls that change a service.
	ServiceResult = api.ServiceResult
	// ServiceConfig is the revisioned configuration of a service.
	ServiceConfig = api.ServiceConfig
	// AuditList is one page of the audit log, newest first.
	AuditList = api.AuditList
	// CreatedAPIKey is a new key; Key is the full credential, shown only once.
	CreatedAPIKey = api.CreatedAPIKey
)

// Login exchanges a username and password for a session token. It does not
// change the client's credential: call SetToken with the result.
func (c *Client) Login(ctx context.Context, username, password string) (*LoginResult, error) {
	var out LoginResult
	err := c.do(ctx, "POST", "/api/v1/auth/login", nil, api.LoginRequest{Username: username, Password: password}, &out)
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
	out, err := c.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	return out.User, nil
}

// WhoAmI returns the user behind the client's credential, the role it
// grants and, for an API key, the key's id.
func (c *Client) WhoAmI(ctx context.Context) (*api.Me, error) {
	var out api.Me
	if err := c.do(ctx, "GET", "/api/v1/auth/me", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateEnvironment creates an environment; it starts in CREATING.
func (c *Client) CreateEnvironment(ctx context.Context, req berth.CreateEnvironmentRequest) (*berth.Environment, error) {
	var out api.EnvironmentEnvelope
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
	var out api.EnvironmentEnvelope
	if err := c.do(ctx, "GET", "/api/v1/environments/"+esc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Environment, nil
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

// RestartEnvironment restarts an environment's workspace.
func (c *Client) RestartEnvironment(ctx context.Context, id string) (*Ack, error) {
	return c.ack(ctx, "POST", "/api/v1/environments/"+esc(id)+"/restart", nil, nil)
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
	return c.ApplyServiceIf(ctx, name, spec, Precondition{})
}

// Precondition is what an apply requires of the stored service, sent as
// If-Match or If-None-Match; the server answers CONFLICT and changes
// nothing when it is not met. The zero value requires nothing.
type Precondition struct {
	Revision int  // the service is at this revision (its Revision field)
	Exists   bool // the service exists
	Absent   bool // the service does not exist yet
}

func (p Precondition) header() http.Header {
	h := http.Header{}
	switch {
	case p.Absent:
		h.Set("If-None-Match", "*")
	case p.Revision > 0:
		h.Set("If-Match", `"`+strconv.Itoa(p.Revision)+`"`)
	case p.Exists:
		h.Set("If-Match", "*")
	}
	return h
}

// ApplyServiceIf is ApplyService when the stored service meets pre.
func (c *Client) ApplyServiceIf(ctx context.Context, name string, spec berth.ServiceSpec, pre Precondition) (res *ServiceResult, created bool, err error) {
	p, _ := svcPath(berth.ServiceRef{Name: name}, "")
	resp, err := c.sendWith(ctx, "PUT", p, nil, spec, "application/json", pre.header())
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
	return c.svcAction(ctx, ref, "scale", api.ScaleRequest{Replicas: &replicas})
}

// RollbackService rolls back to revision, or to the previous one when revision is 0.
func (c *Client) RollbackService(ctx context.Context, ref berth.ServiceRef, revision int) (*ServiceResult, error) {
	return c.svcAction(ctx, ref, "rollback", api.RollbackRequest{Revision: revision})
}

// ListRevisions returns the stored revisions of a service, newest first.
func (c *Client) ListRevisions(ctx context.Context, ref berth.ServiceRef) ([]*berth.Revision, error) {
	p, q := svcPath(ref, "/revisions")
	var out api.RevisionList
	if err := c.do(ctx, "GET", p, q, nil, &out); err != nil {
		return nil, err
	}
	return out.Revisions, nil
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
	var out ServiceResult
	if err := c.do(ctx, "PUT", p, q, api.ConfigUpdate{Files: files, Env: env}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditQuery filters the audit log; Since is RFC 3339 or a duration ("1h").
type AuditQuery struct {
	Type, Status, User, Since string
	ListOptions
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

// CreateAPIKey creates an API key for the caller. role "" takes the caller's
// role; expiresInDays 0 never expires.
func (c *Client) CreateAPIKey(ctx context.Context, name string, role berth.Role, expiresInDays int) (*CreatedAPIKey, error) {
	body := api.CreateAPIKeyRequest{Name: name, Role: role, ExpiresInDays: max(expiresInDays, 0)}
	var out CreatedAPIKey
	if err := c.do(ctx, "POST", "/api/v1/apikeys", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAPIKeys returns the API keys (never their secrets).
func (c *Client) ListAPIKeys(ctx context.Context) ([]*berth.APIKey, error) {
	var out api.APIKeyList
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
	var out api.UserList
	if err := c.do(ctx, "GET", "/api/v1/users", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// CreateUser creates a user (admin).
func (c *Client) CreateUser(ctx context.Context, username, password string, role berth.Role) (*berth.User, error) {
	var out api.UserEnvelope
	body := api.CreateUserRequest{Username: username, Password: password, Role: role}
	if err := c.do(ctx, "POST", "/api/v1/users", nil, body, &out); err != nil {
		return nil, err
	}
	return out.User, nil
}

// GetUser returns one user (admin).
func (c *Client) GetUser(ctx context.Context, id string) (*berth.User, error) {
	var out api.UserEnvelope
	if err := c.do(ctx, "GET", "/api/v1/users/"+esc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.User, nil
}

// UpdateUser changes a user's role and/or password; an empty one is left
// as it is (admin).
func (c *Client) UpdateUser(ctx context.Context, id string, role berth.Role, password string) (*berth.User, error) {
	var out api.UserEnvelope
	body := api.UpdateUserRequest{Role: role, Password: password}
	if err := c.do(ctx, "PATCH", "/api/v1/users/"+esc(id), nil, body, &out); err != nil {
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
	var out api.TargetList
	if err := c.do(ctx, "GET", "/api/v1/targets", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Targets, nil
}

// Overview returns the dashboard's first page as the caller may see it.
func (c *Client) Overview(ctx context.Context) (*api.Overview, error) {
	var out api.Overview
	if err := c.do(ctx, "GET", "/api/v1/overview", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns the server's version, uptime, store and targets with
// their latency, the sampler's lag and the live-event hub.
func (c *Client) Status(ctx context.Context) (*api.Status, error) {
	var out api.Status
	if err := c.do(ctx, "GET", "/api/v1/status", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Infrastructure lists what berth runs, by target; typ ("service",
// "environment", "pod"…) narrows it when set.
func (c *Client) Infrastructure(ctx context.Context, typ string) (*api.Inventory, error) {
	q := url.Values{}
	if typ != "" {
		q.Set("type", typ)
	}
	var out api.Inventory
	if err := c.do(ctx, "GET", "/api/v1/infrastructure", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
