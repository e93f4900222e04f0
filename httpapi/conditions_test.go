package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// PUT /services/{name} evaluates If-Match and If-None-Match, the other
// changes of a service If-Match: a failed precondition is 409 and changes
// nothing, a malformed one is 400 naming the header, and every other change
// refuses them rather than ignore them.
func TestServicePreconditions(t *testing.T) {
	t.Parallel()
	url, token, st := auditServer(t, func(a berth.AuditStore) berth.AuditStore { return a })
	spec := func(arg string) string { return `{"command":["sleep","` + arg + `"],"replicas":0}` }
	for _, step := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		code               int
		field              string // of a 400
		wantRev            int    // the stored revision afterwards (0: none)
	}{
		{"update what does not exist", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"1"`}, spec("1"), 409, "", 0},
		{"create only", "PUT", "/api/v1/services/web", map[string]string{"If-None-Match": "*"}, spec("1"), 201, "", 1},
		{"create only, again", "PUT", "/api/v1/services/web", map[string]string{"If-None-Match": "*"}, spec("2"), 409, "", 1},
		{"update revision 1", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"1"`}, spec("2"), 200, "", 2},
		{"update revision 1 again", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"1"`}, spec("3"), 409, "", 2},
		{"update any revision", "PUT", "/api/v1/services/web", map[string]string{"If-Match": "*"}, spec("3"), 200, "", 3},
		{"unquoted", "PUT", "/api/v1/services/web", map[string]string{"If-Match": "3"}, spec("4"), 400, "If-Match", 3},
		{"weak", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `W/"3"`}, spec("4"), 400, "If-Match", 3},
		{"a list", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"2", "3"`}, spec("4"), 400, "If-Match", 3},
		{"empty", "PUT", "/api/v1/services/web", map[string]string{"If-Match": ""}, spec("4"), 400, "If-Match", 3},
		{"none but not *", "PUT", "/api/v1/services/web", map[string]string{"If-None-Match": `"3"`}, spec("4"), 400, "If-None-Match", 3},
		{"both", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"3"`, "If-None-Match": "*"}, spec("4"), 400, "If-None-Match", 3},
		{"scale a stale revision", "POST", "/api/v1/services/web/scale", map[string]string{"If-Match": `"2"`}, `{"replicas":1}`, 409, "", 3},
		{"scale at the revision", "POST", "/api/v1/services/web/scale", map[string]string{"If-Match": `"3"`}, `{"replicas":0}`, 200, "", 3},
		{"scale create-only", "POST", "/api/v1/services/web/scale", map[string]string{"If-None-Match": "*"}, `{"replicas":1}`, 400, "If-None-Match", 3},
		{"config a stale revision", "PUT", "/api/v1/services/web/config", map[string]string{"If-Match": `"2"`}, `{"env":{"A":"1"}}`, 409, "", 3},
		{"delete a stale revision", "DELETE", "/api/v1/services/web", map[string]string{"If-Match": `"2"`}, "", 409, "", 3},
		{"delete malformed", "DELETE", "/api/v1/services/web", map[string]string{"If-Match": `2`}, "", 400, "If-Match", 3},
		{"a route that does not evaluate it", "DELETE", "/api/v1/environments/env-nope", map[string]string{"If-Match": `"3"`}, "", 400, "If-Match", 3},
		{"nor this one", "POST", "/api/v1/users", map[string]string{"If-None-Match": "*"}, `{"username":"u1","password":"password-of-u1","role":"viewer"}`, 400, "If-None-Match", 3},
		{"a read ignores it", "GET", "/api/v1/services/web", map[string]string{"If-None-Match": `"3"`}, "", 200, "", 3},
		{"update revision 3", "PUT", "/api/v1/services/web", map[string]string{"If-Match": `"3"`}, spec("4"), 200, "", 4},
		{"delete at the revision", "DELETE", "/api/v1/services/web", map[string]string{"If-Match": `"4"`}, "", 200, "", 0},
	} {
		var body io.Reader
		if step.body != "" {
			body = strings.NewReader(step.body)
		}
		req, _ := http.NewRequest(step.method, url+step.path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range step.hdr {
			req.Header[k] = []string{v}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error, Message, Field string }
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_ = json.Unmarshal(raw, &e)
		if resp.StatusCode != step.code || e.Field != step.field {
			t.Fatalf("%s: %d %s, want %d naming %q", step.name, resp.StatusCode, raw, step.code, step.field)
		}
		if step.code == 409 && (e.Error != "CONFLICT" || !strings.Contains(e.Message, "nothing was changed")) {
			t.Errorf("%s: %s", step.name, raw)
		}
		svc, err := st.GetService(context.Background(), berth.ServiceRef{Target: "local", Name: "web"})
		switch {
		case step.wantRev == 0 && !berth.IsCode(err, berth.ENOTFOUND):
			t.Fatalf("%s: stored %v, %v; want none", step.name, svc, err)
		case step.wantRev > 0 && (err != nil || svc.Revision != step.wantRev || svc.Replicas != 0):
			t.Fatalf("%s: stored %+v, %v; want revision %d at 0 replicas", step.name, svc, err, step.wantRev)
		}
	}
}
