package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// gatedAudit holds every audit write the API makes after a call
// (appending or completing its entry) until release is closed.
type gatedAudit struct {
	berth.AuditStore
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (g *gatedAudit) AppendAudit(ctx context.Context, e *berth.AuditEntry) error {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return g.AuditStore.AppendAudit(ctx, e)
}

func (g *gatedAudit) UpdateAudit(ctx context.Context, e *berth.AuditEntry) error {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return g.AuditStore.UpdateAudit(ctx, e)
}

// TestAnswerWaitsForAudit: an audited call is answered only once its audit
// entry is written, so a berth killed in between leaves a client with no
// acknowledgement rather than an acknowledged change without its entry.
func TestAnswerWaitsForAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gate := &gatedAudit{entered: make(chan struct{}), release: make(chan struct{})}
	srvURL, token, st := auditServer(t, func(a berth.AuditStore) berth.AuditStore { gate.AuditStore = a; return gate })
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(gate.release) }) }
	t.Cleanup(release) // before the server closes, which waits for the handler

	answered := make(chan int, 1)
	go func() {
		// An answer larger than net/http's 4 KiB write buffer: without the
		// hold, its head reaches the client before the handler returns.
		spec := fmt.Sprintf(`{"command":["sleep","60"],"env":{"NOTE":%q}}`, strings.Repeat("x", 16<<10))
		req, _ := http.NewRequest("PUT", srvURL+"/api/v1/services/web", strings.NewReader(spec))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-gate.entered
	select {
	case code := <-answered:
		t.Fatalf("answered %d while its audit entry was still being written", code)
	case <-time.After(500 * time.Millisecond): // no answer: as it must be
	}
	release()
	if code := <-answered; code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("apply service: %d, want 201", code)
	}
	entries, _, err := st.ListAudit(ctx, berth.AuditFilter{})
	if err != nil || len(entries) == 0 || entries[0].Action != "service.apply" {
		t.Fatalf("audit entries %v, %v: want the service.apply entry", entries, err)
	}
}

// auditServer serves the API over a SQLite store and a local runtime, with
// the audit store wrap returns, and answers its URL, an admin token and
// the store.
func auditServer(t *testing.T, wrap func(berth.AuditStore) berth.AuditStore) (string, string, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite, nil)
	rt, err := local.New(local.Config{DataDir: t.TempDir(), StopGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: st, Runtimes: []berth.Runtime{rt}})
	if err != nil {
		t.Fatal(err)
	}
	acc := &core.Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32), TTL: time.Hour}}
	if _, err := acc.Bootstrap(ctx, "admin-password"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := acc.Login(ctx, "admin", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewServer(Deps{Core: c, Accounts: acc, Audit: wrap(st)}))
	t.Cleanup(srv.Close)
	return srv.URL, token, st
}

// lostAudit fails every audit write the API makes after a call: the store
// went away right after the call's change committed.
type lostAudit struct{ berth.AuditStore }

func (lostAudit) AppendAudit(context.Context, *berth.AuditEntry) error {
	return errors.New("the database system is shutting down")
}

func (lostAudit) UpdateAudit(context.Context, *berth.AuditEntry) error {
	return errors.New("the database system is shutting down")
}

// TestAuditCommitsWithChange: the entry of a call that changed the store
// commits with that change, so the store losing its connection right after
// (or berth dying) leaves no change without its entry (bench-chaos: a
// service apply acknowledged while PostgreSQL restarted had none). A call
// that changed nothing has no entry from its transaction.
func TestAuditCommitsWithChange(t *testing.T) {
	t.Parallel()
	srvURL, token, st := auditServer(t, func(a berth.AuditStore) berth.AuditStore { return lostAudit{a} })
	send := func(method, path, body, reqID string) int {
		req, _ := http.NewRequest(method, srvURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Request-ID", reqID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("PUT", "/api/v1/services/web", `{"command":["sleep","60"]}`, "req-apply"); code != http.StatusCreated {
		t.Fatalf("apply service: %d, want 201", code)
	}
	if code := send("POST", "/api/v1/services/web/scale", `{"replicas":2}`, "req-scale"); code != http.StatusOK {
		t.Fatalf("scale service: %d, want 200", code)
	}
	if code := send("POST", "/api/v1/services/web/scale", `{"replicas":-1}`, "req-invalid"); code != http.StatusBadRequest {
		t.Fatalf("invalid scale: %d, want 400", code)
	}
	byReq := map[string][]string{}
	rows, err := st.DB().Query(`SELECT request_id, action, status FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, action, status string
		if err := rows.Scan(&id, &action, &status); err != nil {
			t.Fatal(err)
		}
		byReq[id] = append(byReq[id], action+" "+status)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"req-apply": "service.apply completed", "req-scale": "service.scale completed"} {
		if got := byReq[id]; len(got) != 1 || got[0] != want {
			t.Errorf("audit rows of %s: %q, want [%s] (written with its change)", id, got, want)
		}
	}
	if got := byReq["req-invalid"]; len(got) != 0 {
		t.Errorf("audit rows of a refused call whose entry could not be appended: %q, want none", got)
	}
}
