package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/client"
)

// recorded is what the fake server saw of one request.
type recorded struct {
	header                    http.Header
	method, path, query, auth string
	body                      map[string]any
}

// fakeServer answers every request with status and answer, recording it.
func fakeServer(t *testing.T, status int, answer string) (*client.Client, *recorded) {
	t.Helper()
	rec := &recorded{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.method, rec.path, rec.query, rec.auth = r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")
		rec.header = r.Header.Clone()
		rec.body = nil
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &rec.body); err != nil {
				t.Errorf("request body is not JSON: %v", err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL+"/", "tok"), rec
}

func TestCalls(t *testing.T) {
	t.Parallel()
	ref := berth.ServiceRef{Name: "web", Target: "k8s", Namespace: "prod"}
	one := 1
	tests := []struct {
		name              string
		answer            string
		call              func(ctx context.Context, c *client.Client) (any, error)
		method, path, qry string
		body              map[string]any
		want              any
	}{
		{"login", `{"token":"t1","expiresAt":"2025-01-02T03:04:05Z","user":{"id":"u1","username":"admin","role":"admin"}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				r, err := c.Login(ctx, "admin", "pw")
				if err != nil {
					return nil, err
				}
				return r.Token + " " + r.User.Username + " " + string(r.User.Role) + " " + r.ExpiresAt.Format(time.RFC3339), nil
			},
			"POST", "/api/v1/auth/login", "", map[string]any{"username": "admin", "password": "pw"}, "t1 admin admin 2025-01-02T03:04:05Z"},
		{"create env", `{"environment":{"id":"env-1","name":"dev","status":"CREATING"},"message":"Environment created successfully"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				e, err := c.CreateEnvironment(ctx, berth.CreateEnvironmentRequest{Name: "dev", CPUCores: 2, Env: map[string]string{"A": "b"}})
				if err != nil {
					return nil, err
				}
				return e.ID + " " + string(e.Status), nil
			},
			"POST", "/api/v1/environments", "", map[string]any{"name": "dev", "cpuCores": 2.0, "env": map[string]any{"A": "b"}}, "env-1 CREATING"},
		{"list envs", `{"environments":[{"id":"env-1"}],"total":1,"page":2,"pageSize":5}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				l, err := c.ListEnvironments(ctx, client.ListOptions{Page: 2, PageSize: 5})
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(len(l.Environments), l.Total, l.Page.Page, l.PageSize), nil
			},
			"GET", "/api/v1/environments", "page=2&pageSize=5", nil, "1 1 2 5"},
		{"delete env keep volume", `{"message":"Environment deleted successfully","id":"env-1"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				a, err := c.DeleteEnvironment(ctx, "env-1", true)
				return a, err
			},
			"DELETE", "/api/v1/environments/env-1", "keepVolume=true", nil, &client.Ack{Message: "Environment deleted successfully", ID: "env-1"}},
		{"get service scoped", `{"service":{"name":"web","status":"RUNNING","replicas":2,"readyReplicas":2}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				s, err := c.GetService(ctx, ref)
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(s.Name, s.Status, s.ReadyReplicas), nil
			},
			"GET", "/api/v1/services/web", "namespace=prod&target=k8s", nil, "webRUNNING2"},
		{"scale", `{"service":{"name":"web"},"message":"Service scaled to 3"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				r, err := c.ScaleService(ctx, berth.ServiceRef{Name: "web"}, 3)
				if err != nil {
					return nil, err
				}
				return r.Message, nil
			},
			"POST", "/api/v1/services/web/scale", "", map[string]any{"replicas": 3.0}, "Service scaled to 3"},
		{"rollback previous", `{"service":{"name":"web","revision":4}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				r, err := c.RollbackService(ctx, berth.ServiceRef{Name: "web"}, 0)
				if err != nil {
					return nil, err
				}
				return r.Service.Revision, nil
			},
			"POST", "/api/v1/services/web/rollback", "", map[string]any{}, 4},
		{"apply", `{"service":{"name":"web","revision":1},"message":"Service created successfully"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				r, created, err := c.ApplyService(ctx, "web", berth.ServiceSpec{Command: []string{"sleep", "1"}, Replicas: &one})
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(r.Service.Name, r.Message, created), nil
			},
			"PUT", "/api/v1/services/web", "", map[string]any{"command": []any{"sleep", "1"}, "replicas": 1.0, "config": map[string]any{}, "resources": map[string]any{}}, "webService created successfullyfalse"},
		{"update config env only", `{"service":{"name":"web"},"message":"Service configuration updated"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				_, err := c.UpdateConfig(ctx, berth.ServiceRef{Name: "web"}, nil, map[string]string{"A": "1"})
				return nil, err
			},
			"PUT", "/api/v1/services/web/config", "", map[string]any{"env": map[string]any{"A": "1"}}, nil},
		{"audit", `{"logs":[{"id":7,"action":"service.scale","status":"failed"}],"total":1,"page":1,"pageSize":20}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				l, err := c.ListAudit(ctx, client.AuditQuery{Type: "scale", Status: "failed", Since: "1h", ListOptions: client.ListOptions{PageSize: 20}})
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(l.Logs[0].ID, l.Logs[0].Action), nil
			},
			"GET", "/api/v1/logs", "pageSize=20&since=1h&status=failed&type=scale", nil, "7service.scale"},
		{"create api key", `{"apiKey":{"id":"k1","name":"ci","role":"viewer"},"key":"brt_k1_secret"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				k, err := c.CreateAPIKey(ctx, "ci", berth.RoleViewer, 30)
				if err != nil {
					return nil, err
				}
				return k.APIKey.ID + " " + k.Key, nil
			},
			"POST", "/api/v1/apikeys", "", map[string]any{"name": "ci", "role": "viewer", "expiresInDays": 30.0}, "k1 brt_k1_secret"},
		{"logs", `{"service":"web","lines":[{"time":"2025-01-01T00:00:00Z","replica":"web-0","line":"hi"}]}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				l, err := c.Logs(ctx, berth.ServiceRef{Name: "web"}, client.LogQuery{Tail: 10, Since: "5m", Previous: true, Replica: "web-0"})
				if err != nil {
					return nil, err
				}
				return l[0].Replica + " " + l[0].Line, nil
			},
			"GET", "/api/v1/services/web/logs", "previous=true&replica=web-0&since=5m&tail=10", nil, "web-0 hi"},
		{"who am i", `{"user":{"id":"u1","username":"ci"},"role":"operator","keyId":"k1"}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				m, err := c.WhoAmI(ctx)
				if err != nil {
					return nil, err
				}
				return m.User.Username + " " + string(m.Role) + " " + m.KeyID, nil
			},
			"GET", "/api/v1/auth/me", "", nil, "ci operator k1"},
		{"update user", `{"user":{"id":"u1","username":"ada","role":"operator"}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				u, err := c.UpdateUser(ctx, "u1", berth.RoleOperator, "")
				if err != nil {
					return nil, err
				}
				return u.Username + " " + string(u.Role), nil
			},
			"PATCH", "/api/v1/users/u1", "", map[string]any{"role": "operator"}, "ada operator"},
		{"config clears env", `{"service":{"name":"web","revision":3}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				r, err := c.UpdateConfig(ctx, berth.ServiceRef{Name: "web"}, nil, map[string]string{})
				if err != nil {
					return nil, err
				}
				return r.Service.Revision, nil
			},
			"PUT", "/api/v1/services/web/config", "", map[string]any{"env": map[string]any{}}, 3},
		{"overview", `{"alerts":[{"severity":"critical","kind":"crashloop","resource":"web"}],"totals":{"services":{"total":2,"byStatus":{"RUNNING":2}}}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				o, err := c.Overview(ctx)
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(o.Alerts[0].Kind, " ", o.Totals.Services.ByStatus["RUNNING"]), nil
			},
			"GET", "/api/v1/overview", "", nil, "crashloop 2"},
		{"status", `{"version":"v1","store":{"kind":"sqlite","reachable":true},"sampler":{"status":"ok","lagSeconds":1.5},"events":{"enabled":true,"clients":3}}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				st, err := c.Status(ctx)
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(st.Version, " ", st.Store.Kind, " ", *st.Sampler.LagSeconds, " ", *st.Events.Clients), nil
			},
			"GET", "/api/v1/status", "", nil, "v1 sqlite 1.5 3"},
		{"infrastructure", `{"targets":[{"name":"k8s","provider":"KUBERNETES","reachable":false,"error":"down"}],"resources":[{"type":"pod","id":"p1"}],"total":1}`,
			func(ctx context.Context, c *client.Client) (any, error) {
				inv, err := c.Infrastructure(ctx, "pod")
				if err != nil {
					return nil, err
				}
				return fmt.Sprint(inv.Targets[0].Name, " ", inv.Targets[0].Error, " ", inv.Resources[0].ID, " ", inv.Total), nil
			},
			"GET", "/api/v1/infrastructure", "type=pod", nil, "k8s down p1 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := fakeServer(t, 200, tt.answer)
			got, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if rec.method != tt.method || rec.path != tt.path || rec.query != tt.qry {
				t.Errorf("request = %s %s?%s, want %s %s?%s", rec.method, rec.path, rec.query, tt.method, tt.path, tt.qry)
			}
			if rec.auth != "Bearer tok" {
				t.Errorf("Authorization = %q", rec.auth)
			}
			if !reflect.DeepEqual(rec.body, tt.body) {
				t.Errorf("body = %#v, want %#v", rec.body, tt.body)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// ApplyServiceIf sends its precondition as the header the server evaluates.
func TestApplyServiceIfSendsPrecondition(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pre             client.Precondition
		ifMatch, ifNone string
	}{
		{client.Precondition{}, "", ""},
		{client.Precondition{Revision: 7}, `"7"`, ""},
		{client.Precondition{Exists: true}, "*", ""},
		{client.Precondition{Absent: true}, "", "*"},
	} {
		c, rec := fakeServer(t, 200, `{"service":{"name":"web"}}`)
		if _, _, err := c.ApplyServiceIf(context.Background(), "web", berth.ServiceSpec{}, tc.pre); err != nil {
			t.Fatal(err)
		}
		if rec.header.Get("If-Match") != tc.ifMatch || rec.header.Get("If-None-Match") != tc.ifNone {
			t.Errorf("%+v sent If-Match %q, If-None-Match %q; want %q, %q", tc.pre,
				rec.header.Get("If-Match"), rec.header.Get("If-None-Match"), tc.ifMatch, tc.ifNone)
		}
	}
}

func TestApplyReportsCreated(t *testing.T) {
	t.Parallel()
	c, _ := fakeServer(t, 201, `{"service":{"name":"web"},"message":"Service created successfully"}`)
	_, created, err := c.ApplyService(context.Background(), "web", berth.ServiceSpec{})
	if err != nil || !created {
		t.Fatalf("created = %v, err = %v", created, err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		answer string
		code   berth.Code
		msg    string
	}{
		{"api error", 404, `{"error":"NOT_FOUND","message":"environment \"env-x\" not found"}`, berth.ENOTFOUND, `environment "env-x" not found`},
		{"field", 400, `{"error":"INVALID_REQUEST","message":"cpuCores: must be 1 to 4","field":"cpuCores"}`, berth.EINVALID, "cpuCores: must be 1 to 4"},
		{"not json", 502, `<html>bad gateway</html>`, berth.EINTERNAL, "server answered 502 Bad Gateway: <html>bad gateway</html>"},
		{"empty 401", 401, ``, berth.EUNAUTHORIZED, "server answered 401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeServer(t, tt.status, tt.answer)
			_, err := c.GetEnvironment(context.Background(), "env-x")
			var be *berth.Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want *berth.Error", err)
			}
			if berth.ErrorCode(err) != tt.code || berth.ErrorMessage(err) != tt.msg {
				t.Errorf("err = %s %q, want %s %q", berth.ErrorCode(err), berth.ErrorMessage(err), tt.code, tt.msg)
			}
		})
	}
}

func TestRawBody(t *testing.T) {
	t.Parallel()
	const answer = `{"environments":[],"total":0,"page":1,"pageSize":20}`
	c, _ := fakeServer(t, 200, answer)
	var raw json.RawMessage
	if _, err := c.ListEnvironments(client.WithRawBody(context.Background(), &raw), client.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if string(raw) != answer {
		t.Errorf("raw = %s", raw)
	}
}

func TestFollowLogs(t *testing.T) {
	t.Parallel()
	lines := make(chan string)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "true" {
			t.Errorf("follow = %q", r.URL.Query().Get("follow"))
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				io.WriteString(w, l+"\n")
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "tok")

	got := make(chan berth.LogLine)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.FollowLogs(ctx, berth.ServiceRef{Name: "web"}, client.LogQuery{}, func(l berth.LogLine) error {
			got <- l
			return nil
		})
	}()
	// Each line arrives before the next is sent: the stream is not buffered to its end.
	for i := range 3 {
		lines <- fmt.Sprintf(`{"time":"2025-01-01T00:00:0%dZ","replica":"web-0","line":"line %d"}`, i, i)
		select {
		case l := <-got:
			if l.Line != fmt.Sprintf("line %d", i) || l.Replica != "web-0" {
				t.Errorf("line %d = %+v", i, l)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("line %d not delivered", i)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("FollowLogs after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FollowLogs did not return after cancel")
	}
}

func TestFollowLogsCallbackError(t *testing.T) {
	t.Parallel()
	c, _ := fakeServer(t, 200, `{"line":"a"}`+"\n"+`{"line":"b"}`+"\n")
	stop := errors.New("stop")
	n := 0
	err := c.FollowLogs(context.Background(), berth.ServiceRef{Name: "web"}, client.LogQuery{}, func(berth.LogLine) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err = %v after %d lines, want stop after 1", err, n)
	}
}

func TestTransportErrorHasNoToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := client.New(url, "brt_secret_value")
	_, err := c.Me(context.Background())
	if err == nil || strings.Contains(err.Error(), "brt_secret_value") {
		t.Fatalf("err = %v", err)
	}
}
