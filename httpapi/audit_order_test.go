package httpapi

import (
	"context"
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

// gatedAudit holds every AppendAudit until release is closed.
type gatedAudit struct {
	berth.AuditStore
	entered chan struct{}
	release chan struct{}
}

func (g *gatedAudit) AppendAudit(ctx context.Context, e *berth.AuditEntry) error {
	close(g.entered)
	<-g.release
	return g.AuditStore.AppendAudit(ctx, e)
}

// TestAnswerWaitsForAudit: an audited call is answered only once its audit
// entry is written, so a berth killed in between leaves a client with no
// acknowledgement rather than an acknowledged change without its entry.
func TestAnswerWaitsForAudit(t *testing.T) {
	t.Parallel()
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
	gate := &gatedAudit{AuditStore: st, entered: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(NewServer(Deps{Core: c, Accounts: acc, Audit: gate}))
	t.Cleanup(srv.Close)
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(gate.release) }) }
	t.Cleanup(release) // before srv.Close, which waits for the handler

	answered := make(chan int, 1)
	go func() {
		// An answer larger than net/http's 4 KiB write buffer: without the
		// hold, its head reaches the client before the handler returns.
		spec := fmt.Sprintf(`{"command":["sleep","60"],"env":{"NOTE":%q}}`, strings.Repeat("x", 16<<10))
		req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/services/web", strings.NewReader(spec))
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
