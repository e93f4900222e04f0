package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/jaegertest"
	"github.com/berthhq/berth/internal/testutil"
)

// TestTracingJaeger: berth exporting OTLP to a real Jaeger v2. A PUT of a
// service on a Kubernetes target, sent with a W3C traceparent, becomes one
// trace in Jaeger (read through its HTTP query API, not through berth):
// the handler's span is a child of the caller's, and the trace holds core's
// span, store statements and the API server calls client-go made. Neither
// the service's secrets, its environment values nor the caller's bearer
// token appear anywhere in the trace's JSON; berth's log line of the
// request carries the trace and span ids.
func TestTracingJaeger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute) // cold builds of Jaeger and the cluster
	defer cancel()
	jaeger := jaegertest.Start(t)
	cluster := startCluster(t, ctx)
	ns := cluster.Namespace(t)
	service := "berth-e2e-" + ns
	b := startBerthWith(t, fmt.Sprintf("targets:\n  - name: kind\n    type: kubernetes\n    kubeconfig: %s\n    namespaces: [%s]\n    defaultNamespace: %s\n",
		cluster.Kubeconfig, ns, ns),
		"OTEL_EXPORTER_OTLP_ENDPOINT="+jaeger.OTLP, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_SERVICE_NAME="+service, "OTEL_BSP_SCHEDULE_DELAY=100")

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	secrets := []string{"e2e-SECRET-trace-token", "e2e-ENV-trace-value", b.Token()}
	body, _ := json.Marshal(map[string]any{"target": "kind", "namespace": ns, "image": "nginx:1.27", "replicas": 1,
		"env": map[string]string{"PLAIN": secrets[1]}, "secrets": map[string]string{"TOKEN": secrets[0]}})
	req, _ := http.NewRequestWithContext(ctx, "PUT", b.URL+"/api/v1/services/web", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.Token())
	req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: status %d", resp.StatusCode)
	}

	var tr *jaegertest.Trace
	var raw []byte
	testutil.Eventually(t, 60*time.Second, "the PUT's trace in Jaeger with every layer's spans", func() (bool, string) {
		tr, raw, err = jaeger.Trace(ctx, traceID)
		if err != nil || tr == nil {
			return false, fmt.Sprint(err)
		}
		missing := missingLayers(tr, parentID)
		return len(missing) == 0, fmt.Sprintf("missing %v of %d spans", missing, len(tr.Spans))
	})
	for _, sp := range tr.Spans {
		if sp.TraceID != traceID {
			t.Errorf("span %s in trace %s", sp.OperationName, sp.TraceID)
		}
	}
	if p := tr.Processes[tr.Spans[0].ProcessID]; p.ServiceName != service {
		t.Errorf("service name %q, want %q", p.ServiceName, service)
	}
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("the trace's JSON holds a secret (%.12s…)", s)
		}
	}
	for _, h := range []string{"authorization", "http.request.header", "db.query.parameter"} {
		if strings.Contains(strings.ToLower(string(raw)), h) {
			t.Errorf("the trace's JSON holds %q", h)
		}
	}
	testutil.Eventually(t, 10*time.Second, "berth's request log line carries the trace id", func() (bool, string) {
		for _, line := range strings.Split(b.stderr.String(), "\n") {
			if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"method":"PUT"`) &&
				strings.Contains(line, `"trace_id":"`+traceID+`"`) && strings.Contains(line, `"span_id":"`) {
				return true, ""
			}
		}
		return false, "no PUT request line with trace_id"
	})
}

// missingLayers names the layers that trace lacks a span of: the handler's
// (a child of parentID), core's, a store statement, an API server call.
func missingLayers(tr *jaegertest.Trace, parentID string) []string {
	found := map[string]bool{}
	for _, sp := range tr.Spans {
		switch {
		case sp.OperationName == "PUT /api/v1/services/{name}" && len(sp.References) == 1 && sp.References[0].SpanID == parentID &&
			sp.Tag("http.response.status_code") == "201":
			found["handler"] = true
		case sp.OperationName == "core.ApplyService" && sp.Tag("berth.service") == "web":
			found["core"] = true
		case sp.Tag("db.system.name") == "sqlite" && sp.Tag("db.query.text") != "":
			found["store"] = true
		case strings.HasPrefix(sp.OperationName, "kubernetes ") && strings.Contains(sp.OperationName, "/deployments"):
			found["kubernetes API"] = true
		}
	}
	var missing []string
	for _, l := range []string{"handler", "core", "store", "kubernetes API"} {
		if !found[l] {
			missing = append(missing, l)
		}
	}
	return missing
}
