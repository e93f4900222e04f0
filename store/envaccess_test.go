package store_test

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
)

// TestEnvAccess: a proxy ticket is redeemed once, before it expires, and
// never as a session; a session is read (not consumed) until it expires;
// the credential is sealed at rest; concurrent redeemers get a ticket once.
func TestEnvAccess(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		const cred = "eyJ.session-token-of-alice.sig"
		save := func(hash, kind string, exp time.Time) {
			t.Helper()
			must(t, s.SaveEnvAccess(ctx, &berth.EnvAccess{Hash: []byte(hash), Kind: kind, EnvID: "env-a", Credential: cred, ExpiresAt: exp}))
		}
		save("t-live", berth.EnvAccessTicket, now.Add(time.Minute))
		save("t-late", berth.EnvAccessTicket, now.Add(time.Second))
		save("s-live", berth.EnvAccessSession, now.Add(time.Hour))
		save("s-late", berth.EnvAccessSession, now.Add(time.Second))

		for _, tc := range []struct {
			name, hash string
			at         time.Time
			ok         bool
		}{
			{"a session is not a ticket", "s-live", now, false},
			{"live", "t-live", now, true},
			{"replayed", "t-live", now, false},
			{"redeemed after it expired", "t-late", now.Add(2 * time.Second), false},
		} {
			g, ok, err := s.RedeemEnvTicket(ctx, []byte(tc.hash), tc.at)
			must(t, err)
			if ok != tc.ok {
				t.Errorf("ticket %s: redeemed = %v, want %v", tc.name, ok, tc.ok)
			}
			if ok && (g.EnvID != "env-a" || g.Credential != cred) {
				t.Errorf("ticket %s: %+v", tc.name, g)
			}
		}
		for _, tc := range []struct {
			name, hash string
			at         time.Time
			ok         bool
		}{
			{"live", "s-live", now, true},
			{"read again", "s-live", now, true},
			{"a ticket is not a session", "t-live", now, false},
			{"expired", "s-late", now.Add(2 * time.Second), false},
		} {
			g, ok, err := s.GetEnvSession(ctx, []byte(tc.hash), tc.at)
			must(t, err)
			if ok != tc.ok {
				t.Errorf("session %s: found = %v, want %v", tc.name, ok, tc.ok)
			}
			if ok && g.Credential != cred {
				t.Errorf("session %s: credential not opened", tc.name)
			}
		}
		// At rest the credential is sealed: no row holds it in the clear.
		rows, err := s.DB().QueryContext(ctx, "SELECT credential FROM env_access")
		must(t, err)
		for rows.Next() {
			var b []byte
			must(t, rows.Scan(&b))
			if bytes.Contains(b, []byte(cred)) {
				t.Errorf("a credential is stored in the clear")
			}
		}
		rows.Close()

		save("t-race", berth.EnvAccessTicket, now.Add(time.Minute))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, ok, err := s.RedeemEnvTicket(ctx, []byte("t-race"), now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("a ticket redeemed concurrently was accepted %d times, want once", wins.Load())
		}
	})
}
