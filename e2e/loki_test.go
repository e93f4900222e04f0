package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/internal/lokitest"
)

// TestLokiLogs: with LOKI_URL, a service's logs come from a real Loki
// (built from Go modules by internal/lokitest): lines pushed there come back
// through berth's logs API, only the service's own, in order; Loki down is
// UNAVAILABLE naming it.
func TestLokiLogs(t *testing.T) {
	lk := lokitest.Start(t)
	b := StartBerth(t, "", "", "LOKI_URL="+lk.URL)
	b.MustDo(201, "PUT", "/api/v1/services/web", map[string]any{"command": []string{"sleep", "600"}})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	var lines []lokitest.Line
	for i := 0; i < 5; i++ {
		lines = append(lines, lokitest.Line{Time: now.Add(time.Duration(i-10) * time.Second), Line: "web line " + string(rune('a'+i))})
	}
	if err := lk.Push(ctx, map[string]string{"service_name": "web"}, lines...); err != nil {
		t.Fatal(err)
	}
	if err := lk.Push(ctx, map[string]string{"service_name": "web-api"}, lokitest.Line{Time: now.Add(-5 * time.Second), Line: "web-api line"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	Eventually(t, 20*time.Second, "lines from Loki", func() (bool, string) {
		m := getJSON[api.ServiceLogs](b, "/api/v1/services/web/logs?tail=3")
		got = nil
		for _, l := range m.Lines {
			got = append(got, l.Line)
		}
		return len(got) == 3, strings.Join(got, "|")
	})
	if strings.Join(got, "|") != "web line c|web line d|web line e" {
		t.Errorf("tail 3 = %q (want the last three of web's lines, in order, none of web-api's)", got)
	}
	lk.Stop()
	code, e := doAs[api.Error](b, b.Token(), "GET", "/api/v1/services/web/logs", nil)
	if code != 503 || e.Error != berth.EUNAVAILABLE || !strings.Contains(strings.ToLower(e.Message), "loki") {
		t.Errorf("Loki down: %d %+v", code, e)
	}
}
