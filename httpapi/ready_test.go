package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/internal/testutil"
	"github.com/berthhq/berth/local"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

// downRuntime is a local runtime whose target does not answer, with the
// kind of text a driver puts in its error.
type downRuntime struct{ *local.Runtime }

const secretDetail = "dial tcp 10.0.0.7:6443: connect: connection refused"

func (downRuntime) Ping(context.Context) error { return errors.New(secretDetail) }

// TestReadyHidesErrors: /readyz answers without credentials, so a down
// target shows a generic reason there, while the log has the error's text.
func TestReadyHidesErrors(t *testing.T) {
	t.Parallel()
	rt, err := local.New(local.Config{Name: "west", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	c, err := core.New(core.Config{Store: storetest.Open(t, store.SQLite, nil), Runtimes: []berth.Runtime{downRuntime{rt}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	srv := httptest.NewServer(NewServer(Deps{Core: c, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Started: time.Now()}))
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body api.Ready
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || body.Status != "not ready" {
		t.Fatalf("/readyz = %d %q, want 503 not ready", resp.StatusCode, body.Status)
	}
	if w := body.Checks["target:west"]; w.Status != "down" || w.Error != "unreachable" {
		t.Fatalf("target:west = %+v, want down and unreachable", w)
	}
	if s := body.Checks["store"]; s.Status != "ok" {
		t.Fatalf("store = %+v, want ok", s)
	}
	if !strings.Contains(logs.String(), "connection refused") || !strings.Contains(logs.String(), "target:west") {
		t.Fatalf("the log does not have the check's error: %s", logs.String())
	}
}
