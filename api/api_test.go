package api_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/berthhq/berth/api"
)

// TestStatusCounts: Add counts one object by status on a zero value, Merge
// adds another count (core's overview sums targets with it).
func TestStatusCounts(t *testing.T) {
	var a, total api.StatusCounts
	for _, st := range []string{"RUNNING", "RUNNING", "ERROR"} {
		a.Add(st)
	}
	b := api.StatusCounts{Total: 1, ByStatus: map[string]int{"STOPPED": 1}}
	total.Merge(a)
	total.Merge(b)
	want := api.StatusCounts{Total: 4, ByStatus: map[string]int{"RUNNING": 2, "ERROR": 1, "STOPPED": 1}}
	if !reflect.DeepEqual(total, want) {
		t.Fatalf("total = %+v, want %+v", total, want)
	}
}

// TestWireShapes: the bodies encode as the API documents them: an embedded
// Page flattens into the list, an absent ConfigUpdate part is left out
// while an empty one is sent (it clears), optional answers are omitted.
func TestWireShapes(t *testing.T) {
	seven := 7
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"list with page", api.AuditList{Page: api.Page{Total: 1, Page: 2, PageSize: 5}}, `{"logs":null,"total":1,"page":2,"pageSize":5}`},
		{"config: env only", api.ConfigUpdate{Env: map[string]string{"A": "b"}}, `{"env":{"A":"b"}}`},
		{"config: clear env", api.ConfigUpdate{Env: map[string]string{}}, `{"env":{}}`},
		{"scale", api.ScaleRequest{Replicas: &seven}, `{"replicas":7}`},
		{"rollback to previous", api.RollbackRequest{}, `{}`},
		{"ack by name", api.Ack{Message: "Service deleted successfully", Name: "web"}, `{"message":"Service deleted successfully","name":"web"}`},
		{"status without sampler or hub", api.Status{Events: api.EventsStatus{Enabled: false}},
			`{"version":"","uptime":"","uptimeSeconds":0,"startedAt":"0001-01-01T00:00:00Z","store":{"kind":"","reachable":false,"latencyMs":0},"targets":null,"leader":false,"events":{"enabled":false}}`},
		{"error", api.Error{Error: "INVALID_REQUEST", Message: "replicas: must be", Field: "replicas"}, `{"error":"INVALID_REQUEST","message":"replicas: must be","field":"replicas"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}
