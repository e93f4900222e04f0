package httpapi

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: every route is documented and every documented
// operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routes := map[string]bool{}
	for _, r := range NewServer(Deps{}).Routes() {
		method, path, _ := strings.Cut(r, " ")
		if path == "/{$}" {
			path = "/"
		}
		path = strings.ReplaceAll(path, "...}", "}") // a trailing wildcard is one OpenAPI parameter
		routes[method+" "+path] = true
	}
	var missingDoc, missingRoute []string
	for r := range routes {
		if !documented[r] {
			missingDoc = append(missingDoc, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			missingRoute = append(missingRoute, d)
		}
	}
	sort.Strings(missingDoc)
	sort.Strings(missingRoute)
	if len(missingDoc) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missingDoc)
	}
	if len(missingRoute) > 0 {
		t.Errorf("documented operations with no route: %v", missingRoute)
	}
}

// TestRouteTable: every mutating route is audited and needs at least an
// operator, except the caller's own session, the workspace activity report
// and a WebSocket ticket (which changes nothing).
func TestRouteTable(t *testing.T) {
	t.Parallel()
	s := NewServer(Deps{})
	for _, rt := range s.routes() {
		if rt.proxy {
			// The environment proxy forwards any method to a workspace and
			// authenticates each request itself (ticket, cookie or bearer):
			// what it changes is the workspace's, not berth's.
			if rt.role != "" || rt.action != "" || !strings.HasPrefix(rt.path, "/env/{id}/") {
				t.Errorf("%s %s: a proxy route is outside the table's role and audit (and under /env/{id}/)", rt.method, rt.path)
			}
			continue
		}
		if rt.method == "GET" {
			if rt.action != "" {
				t.Errorf("%s %s: reads are not audited", rt.method, rt.path)
			}
			continue
		}
		switch rt.path {
		case "/api/v1/auth/login", "/api/v1/auth/logout", "/api/v1/environments/{id}/activity", "/api/v1/ws-ticket":
			continue
		case "/api/v1/chat":
			// Viewers may ask; each mutation it does needs its intent's role
			// (that of its REST route: chat.Intents) and is audited itself.
			if rt.action == "" {
				t.Errorf("%s %s is not audited", rt.method, rt.path)
			}
			continue
		}
		if rt.action == "" {
			t.Errorf("%s %s mutates but is not audited", rt.method, rt.path)
		}
		if rt.role == "" || rt.role == "viewer" {
			t.Errorf("%s %s mutates with role %q", rt.method, rt.path, rt.role)
		}
	}
}
