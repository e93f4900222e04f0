package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

// FuzzDecode: the request decoder answers INVALID_REQUEST (naming a field
// or the body) for anything it cannot take, and never panics.
func FuzzDecode(f *testing.F) {
	f.Add(`{"name":"my-workspace","cloudProvider":"AZURE","cloudRegion":"eastus","cpuCores":2,"memoryGB":4,"storageGB":20}`)
	f.Add(`{"command":["node","server.js"],"replicas":2}`)
	f.Add(`{"replicas":"three"}`)
	f.Add(`{"replicas":1}{"replicas":2}`)
	f.Add(``)
	f.Add(`{"cpuCores":1.5}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, strict := range []bool{true, false} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			var spec berth.ServiceSpec
			err := decode(r, &spec, strict)
			if err != nil && (berth.ErrorCode(err) != berth.EINVALID || !strings.Contains(berth.ErrorMessage(err), ":")) {
				t.Fatalf("decode error %v is not a field-naming INVALID_REQUEST", err)
			}
			var env berth.CreateEnvironmentRequest
			r = httptest.NewRequest("POST", "/", strings.NewReader(body))
			if err := decode(r, &env, strict); err == nil {
				_ = env.Normalize()
			}
		}
	})
}

func TestDecodeNamesField(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`{"replicas":"three"}`:         "replicas",
		`{"cpuCores":1.5}`:             "cpuCores",
		`{"replicaz":1}`:               "replicaz",
		``:                             "body",
		`{`:                            "body",
		`{"replicas":1}{"replicas":2}`: "body",
	}
	for body, field := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v struct {
			Replicas int `json:"replicas"`
			CPUCores int `json:"cpuCores"`
		}
		err := decode(r, &v, true)
		if !strings.HasPrefix(berth.ErrorMessage(err), field+":") {
			t.Errorf("%s: %v, want message naming %s", body, err, field)
		}
	}
}

// An optional body: empty or blank is no body (the zero value), anything
// else is decoded as strictly as a required one.
func TestDecodeOptional(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body     string
		revision int
		field    string // "" when it decodes
	}{
		{"", 0, ""},
		{" \n\t", 0, ""},
		{`{"revision":4}`, 4, ""},
		{`{"revison":4}`, 0, "revison"},
		{`{"revision":"4"}`, 0, "revision"},
		{`{"revision":4}{"revision":5}`, 0, "body"},
		{`{`, 0, "body"},
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		var v struct {
			Revision int `json:"revision"`
		}
		err := decodeOptional(r, &v)
		switch {
		case tc.field == "" && (err != nil || v.Revision != tc.revision):
			t.Errorf("%q: revision %d, %v; want %d", tc.body, v.Revision, err, tc.revision)
		case tc.field != "" && !strings.HasPrefix(berth.ErrorMessage(err), tc.field+":"):
			t.Errorf("%q: %v, want a message naming %s", tc.body, err, tc.field)
		}
	}
}
