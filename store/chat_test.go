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

// TestChatConfirms: a confirmation is redeemed once, by its own user, before
// it expires; another user's attempt leaves it to its owner; the action is
// sealed at rest; concurrent redeemers get it exactly once.
func TestChatConfirms(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		save := func(hash string, exp time.Time) {
			must(t, s.SaveChatConfirm(ctx, &berth.ChatConfirm{Hash: []byte(hash), UserID: "usr-a",
				Action: []byte(`{"intent":"scale","secret":"PLAIN-ACTION"}`), Summary: "scale web", ExpiresAt: exp}))
		}
		save("c-live", now.Add(time.Minute))
		save("c-late", now.Add(time.Second))
		var raw []byte
		must(t, s.DB().QueryRowContext(ctx, "SELECT action FROM chat_confirms WHERE summary = 'scale web' LIMIT 1").Scan(&raw))
		if bytes.Contains(raw, []byte("PLAIN-ACTION")) {
			t.Fatalf("the action is stored in the clear: %q", raw)
		}
		tests := []struct {
			name, hash, user string
			at               time.Time
			ok               bool
		}{
			{"another user", "c-live", "usr-b", now, false},
			{"its user", "c-live", "usr-a", now, true},
			{"replayed", "c-live", "usr-a", now, false},
			{"unknown", "c-none", "usr-a", now, false},
			{"after it expired", "c-late", "usr-a", now.Add(2 * time.Second), false},
		}
		for _, tc := range tests {
			c, ok, err := s.RedeemChatConfirm(ctx, []byte(tc.hash), tc.user, tc.at)
			must(t, err)
			if ok != tc.ok {
				t.Errorf("%s: redeemed = %v, want %v", tc.name, ok, tc.ok)
			}
			if ok && (string(c.Action) != `{"intent":"scale","secret":"PLAIN-ACTION"}` || c.Summary != "scale web") {
				t.Errorf("%s: got %+v", tc.name, c)
			}
		}
		var n int
		must(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM chat_confirms").Scan(&n))
		if n != 0 {
			t.Errorf("%d confirmations left in the table", n)
		}
		save("c-race", now.Add(time.Minute))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := s.RedeemChatConfirm(ctx, []byte("c-race"), "usr-a", now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("a confirmation redeemed concurrently was accepted %d times, want once", wins.Load())
		}
	})
}
