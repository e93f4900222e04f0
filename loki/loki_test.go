package loki_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/httpapi"
	"github.com/berthhq/berth/internal/lokitest"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/loki"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// api is berth's real API (SQLite store, local runtime, core, httpapi)
// reading the local target's service logs from src.
func api(t *testing.T, src berth.ServiceLogger, services ...string) (srv *httptest.Server, token string) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite, nil)
	rt, err := local.New(local.Config{DataDir: t.TempDir(), StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}, LogSources: map[string]berth.ServiceLogger{"local": src}})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	if _, err := acc.Bootstrap(ctx, "admin-password"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err = acc.Login(ctx, "admin", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	actor, err := acc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range services {
		if _, _, err := c.ApplyService(berth.WithActor(ctx, actor), name, berth.ServiceSpec{Command: []string{"sleep", "300"}}); err != nil {
			t.Fatal(err)
		}
	}
	s := httpapi.NewServer(httpapi.Deps{Core: c, Accounts: acc, Audit: st})
	srv = httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(s.CloseStreams)
	return srv, token
}

func get(t *testing.T, srv *httptest.Server, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, []byte(b.String())
}

func texts(lines []berth.LogLine) []string {
	out := []string{}
	for _, l := range lines {
		out = append(out, l.Replica+"|"+l.Line)
	}
	return out
}

func readLines(t *testing.T, srv *httptest.Server, token, path string) []berth.LogLine {
	t.Helper()
	code, body := get(t, srv, token, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var out struct{ Lines []berth.LogLine }
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return out.Lines
}

// waitLines polls the API until path answers want lines (Loki makes pushed
// lines queryable quickly, not synchronously).
func waitLines(t *testing.T, srv *httptest.Server, token, path string, want int) {
	t.Helper()
	testutil.Eventually(t, testutil.Process, fmt.Sprintf("GET %s answering %d lines", path, want), func() (bool, string) {
		got := readLines(t, srv, token, path)
		return len(got) == want, fmt.Sprintf("%d lines: %q", len(got), texts(got))
	})
}

func TestServiceLogsFromLoki(t *testing.T) {
	t.Parallel()
	lk := lokitest.Start(t)
	client, err := loki.New(lk.URL)
	if err != nil {
		t.Fatal(err)
	}
	src, err := loki.NewSource(client, loki.SourceConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv, token := api(t, src, "web", "api")
	ctx := context.Background()

	// Two replicas of web interleaved in time and pushed out of order, api,
	// and web-api, whose name web is a prefix of.
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	pushes := []struct {
		labels map[string]string
		lines  []lokitest.Line
	}{
		{map[string]string{"service_name": "web", "instance": "web-1", "stream": "stderr"},
			[]lokitest.Line{{Time: at(15), Line: "b 15"}, {Time: at(35), Line: "b 35"}, {Time: at(55), Line: "b 55"}}},
		{map[string]string{"service_name": "web", "instance": "web-0", "stream": "stdout"},
			[]lokitest.Line{{Time: at(10), Line: "a 10"}, {Time: at(20), Line: "a 20"}, {Time: at(30), Line: "a 30"}, {Time: at(40), Line: "a 40"}, {Time: at(50), Line: "a \"quoted\" 50"}}},
		{map[string]string{"service_name": "api"}, []lokitest.Line{{Time: at(12), Line: "api 12"}, {Time: at(22), Line: "api 22"}}},
		{map[string]string{"service_name": "web-api", "instance": "web-api-0"}, []lokitest.Line{{Time: at(25), Line: "other 25"}, {Time: at(60), Line: "other 60"}}},
	}
	for _, p := range pushes {
		if err := lk.Push(ctx, p.labels, p.lines...); err != nil {
			t.Fatal(err)
		}
	}
	waitLines(t, srv, token, "/api/v1/services/web/logs?tail=0", 8)
	waitLines(t, srv, token, "/api/v1/services/api/logs?tail=0", 2)

	since := url.QueryEscape(at(30).Format(time.RFC3339Nano))
	tests := []struct {
		name, path string
		want       []string
	}{
		{"every line of web, in time order", "/api/v1/services/web/logs?tail=0",
			[]string{"web-0|a 10", "web-1|b 15", "web-0|a 20", "web-0|a 30", "web-1|b 35", "web-0|a 40", `web-0|a "quoted" 50`, "web-1|b 55"}},
		{"tail", "/api/v1/services/web/logs?tail=3", []string{"web-0|a 40", `web-0|a "quoted" 50`, "web-1|b 55"}},
		{"since is inclusive", "/api/v1/services/web/logs?since=" + since,
			[]string{"web-0|a 30", "web-1|b 35", "web-0|a 40", `web-0|a "quoted" 50`, "web-1|b 55"}},
		{"since and tail", "/api/v1/services/web/logs?tail=2&since=" + since, []string{`web-0|a "quoted" 50`, "web-1|b 55"}},
		{"one replica", "/api/v1/services/web/logs?replica=web-1", []string{"web-1|b 15", "web-1|b 35", "web-1|b 55"}},
		{"another service", "/api/v1/services/api/logs", []string{"|api 12", "|api 22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := texts(readLines(t, srv, token, tt.path))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
	t.Run("streams and times", func(t *testing.T) {
		lines := readLines(t, srv, token, "/api/v1/services/web/logs?tail=2")
		if len(lines) != 2 || lines[0].Stream != "stdout" || lines[1].Stream != "stderr" || !lines[1].Time.Equal(at(55)) {
			t.Fatalf("got %+v", lines)
		}
	})
	t.Run("previous is refused", func(t *testing.T) {
		code, body := get(t, srv, token, "/api/v1/services/web/logs?previous=true")
		if code != http.StatusBadRequest || !strings.Contains(string(body), `"previous"`) {
			t.Fatalf("got %d %s", code, body)
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/services/web/logs?follow=true&tail=2", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("follow: %s", resp.Status)
		}
		dec := json.NewDecoder(resp.Body)
		next := func() string {
			var l berth.LogLine
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("follow: %v\nloki's log:\n%s", err, lk.Log())
			}
			return l.Replica + "|" + l.Line
		}
		for _, want := range []string{`web-0|a "quoted" 50`, "web-1|b 55"} {
			if got := next(); got != want {
				t.Fatalf("follow: got %q, want %q", got, want)
			}
		}
		// Lines pushed after the stream started, for web and for web-api:
		// only web's come, once each, in order.
		now := time.Now()
		if err := lk.Push(ctx, map[string]string{"service_name": "web-api", "instance": "web-api-0"}, lokitest.Line{Time: now, Line: "other new"}); err != nil {
			t.Fatal(err)
		}
		if err := lk.Push(ctx, map[string]string{"service_name": "web", "instance": "web-0", "stream": "stdout"},
			lokitest.Line{Time: now, Line: "new 1"}, lokitest.Line{Time: now.Add(time.Millisecond), Line: "new 2"}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"web-0|new 1", "web-0|new 2"} {
			if got := next(); got != want {
				t.Fatalf("follow: got %q, want %q", got, want)
			}
		}
	})

	t.Run("loki down", func(t *testing.T) {
		lk.Stop()
		code, body := get(t, srv, token, "/api/v1/services/web/logs")
		var e struct{ Error, Message string }
		_ = json.Unmarshal(body, &e)
		if code != http.StatusServiceUnavailable || e.Error != string(berth.EUNAVAILABLE) || !strings.Contains(e.Message, "loki at "+lk.URL) {
			t.Fatalf("got %d %s", code, body)
		}
	})
}

// TestPaging reads more lines than one query returns, with several lines
// sharing the timestamps where pages meet.
func TestPaging(t *testing.T) {
	t.Parallel()
	lk := lokitest.Start(t)
	client, err := loki.New(lk.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var lines []lokitest.Line
	for i := 0; i < 11; i++ {
		// Groups of three lines share a timestamp.
		lines = append(lines, lokitest.Line{Time: base.Add(time.Duration(i/3) * time.Millisecond), Line: fmt.Sprintf("line %02d", i)})
	}
	if err := lk.Push(ctx, map[string]string{"service_name": "paged"}, lines...); err != nil {
		t.Fatal(err)
	}
	ref := berth.ServiceRef{Target: "local", Name: "paged"}
	read := func(src *loki.Source, opts berth.LogOptions) []berth.LogLine {
		t.Helper()
		var got []berth.LogLine
		if err := src.ServiceLogs(ctx, ref, opts, func(l berth.LogLine) error { got = append(got, l); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	one, err := loki.NewSource(client, loki.SourceConfig{Lookback: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Process, "pushed lines queryable", func() (bool, string) {
		got := read(one, berth.LogOptions{})
		return len(got) == len(lines), fmt.Sprintf("%+v", got)
	})
	for _, page := range []int{1, 2, 4, 1000} {
		src, err := loki.NewSource(client, loki.SourceConfig{PageSize: page, Lookback: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for _, tail := range []int{0, 5, 11, 20} {
			t.Run(fmt.Sprintf("page %d tail %d", page, tail), func(t *testing.T) {
				got := read(src, berth.LogOptions{Tail: tail})
				n := len(lines)
				if tail > 0 && tail < n {
					n = tail
				}
				if len(got) != n {
					t.Fatalf("got %d lines %+v, want %d", len(got), got, n)
				}
				// The latest n: every line after the oldest one's time, the
				// rest from lines sharing its time (Loki orders those), each
				// once, in time order.
				oldest := got[0].Time
				seen := map[string]bool{}
				for i, l := range got {
					if seen[l.Line] || (i > 0 && l.Time.Before(got[i-1].Time)) {
						t.Fatalf("repeated or out of order: %+v", got)
					}
					seen[l.Line] = true
				}
				for _, l := range lines {
					if l.Time.After(oldest) && !seen[l.Line] {
						t.Fatalf("missing %q: %+v", l.Line, got)
					}
					if l.Time.Before(oldest) && seen[l.Line] {
						t.Fatalf("older %q than the latest %d: %+v", l.Line, n, got)
					}
				}
			})
		}
	}
}
