package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/store"
)

func ip(v int) *int         { return &v }
func fp(v float64) *float64 { return &v }

// TestQuotaLevels: levels are stored, replaced and deleted per scope and
// key, and resolve most-specific-first once read back.
func TestQuotaLevels(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.PutQuota(ctx, berth.QuotaDefaults, "", berth.QuotaLimits{MaxEnvironments: ip(3), CPUCores: fp(8)}))
		must(t, s.PutQuota(ctx, berth.QuotaRole, "operator", berth.QuotaLimits{CPUCores: fp(12)}))
		must(t, s.PutQuota(ctx, berth.QuotaUser, "u-1", berth.QuotaLimits{MaxEnvironments: ip(1)}))
		must(t, s.PutQuota(ctx, berth.QuotaUser, "u-1", berth.QuotaLimits{MaxEnvironments: ip(5)})) // replaces
		qs, err := s.GetQuotas(ctx)
		must(t, err)
		l := qs.Resolve(berth.RoleOperator, "u-1")
		if *l.MaxEnvironments != 5 || *l.CPUCores != 12 || l.MemoryGB != nil {
			t.Fatalf("resolved %+v", l)
		}
		if len(qs.Roles) != 1 || len(qs.Users) != 1 || *qs.Defaults.CPUCores != 8 {
			t.Fatalf("levels %+v", qs)
		}
		must(t, s.DeleteQuota(ctx, berth.QuotaUser, "u-1"))
		wantCode(t, s.DeleteQuota(ctx, berth.QuotaUser, "u-1"), berth.ENOTFOUND)
		qs, err = s.GetQuotas(ctx)
		must(t, err)
		if l := qs.Resolve(berth.RoleOperator, "u-1"); *l.MaxEnvironments != 3 {
			t.Fatalf("after delete: %+v", l)
		}
	})
}

// TestSerializeUser: twenty parallel check-then-insert sections of one
// user let exactly as many through as fit; a failing section leaves no
// row; another user's sections are not blocked by the count.
func TestSerializeUser(t *testing.T) {
	eachKind(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const limit = 7
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed, refused := 0, 0
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.SerializeUser(ctx, "u-a", func(ctx context.Context) error {
					_, n, err := s.ListEnvironments(ctx, berth.EnvironmentFilter{UserID: "u-a"})
					if err != nil {
						return err
					}
					if n >= limit {
						return berth.Errorf(berth.EQUOTA, "full")
					}
					return s.CreateEnvironment(ctx, &berth.Environment{ID: fmt.Sprintf("env-%02d", i), UserID: "u-a", Name: "e",
						Status: berth.EnvCreating, StorageGB: 10})
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					allowed++
				case berth.IsCode(err, berth.EQUOTA):
					refused++
				default:
					t.Errorf("section %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		var rows int
		must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM environments WHERE user_id = 'u-a'`).Scan(&rows))
		if allowed != limit || refused != 20-limit || rows != limit {
			t.Fatalf("allowed %d, refused %d, rows %d; want %d, %d, %d", allowed, refused, rows, limit, 20-limit, limit)
		}
		// Usage intervals were written in the same transactions: one open per row.
		var open int
		must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM usage_intervals WHERE ended_at IS NULL`).Scan(&open))
		if open != limit {
			t.Fatalf("open usage intervals %d, want %d", open, limit)
		}
		boom := errors.New("boom")
		err := s.SerializeUser(ctx, "u-b", func(ctx context.Context) error {
			must(t, s.CreateEnvironment(ctx, &berth.Environment{ID: "env-b", UserID: "u-b", Name: "b", Status: berth.EnvCreating}))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("section error: %v", err)
		}
		must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM environments WHERE id = 'env-b'`).Scan(&rows))
		must(t, s.DB().QueryRow(`SELECT COUNT(*) FROM usage_intervals WHERE resource_id = 'env-b'`).Scan(&open))
		if rows != 0 || open != 0 {
			t.Fatalf("a rolled back section left %d rows and %d intervals", rows, open)
		}
	})
}

// fakeClock is a settable clock for the store's usage stamps.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
