package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/internal/pgtest"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// eachKind runs fn against a fresh store of every kind.
func eachKind(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, kind := range storetest.Kinds() {
		t.Run(kind, func(t *testing.T) { fn(t, storetest.Open(t, kind, nil)) })
	}
}

func wantCode(t *testing.T, err error, code berth.Code) {
	t.Helper()
	if got := berth.ErrorCode(err); got != code {
		t.Fatalf("error code = %s (%v), want %s", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

var ctx = context.Background()

// base is an arbitrary time with sub-microsecond digits and a non-UTC zone,
// to check rounding and zone handling.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))

func intp(n int) *int { return &n }

func newService(target, ns, name string) (*berth.Service, *berth.Revision) {
	spec := berth.ServiceSpec{
		Target: target, Namespace: ns, Command: []string{"python3", "-m", "http.server"},
		Env: map[string]string{"MODE": "prod"}, Secrets: map[string]string{"DB_PASSWORD": "hunter2-" + name},
		Replicas: intp(2), Ports: []berth.Port{{Name: "http", Port: 8080}},
		Resources:   berth.Resources{CPU: "500m", Memory: "256Mi"},
		HealthCheck: &berth.HealthCheck{HTTP: "/healthz"}, Config: berth.Config{Files: map[string]string{"a.conf": "x=1"}},
	}
	svc := &berth.Service{Name: name, Target: target, Namespace: ns, Status: berth.ServicePending, Replicas: 2,
		Revision: 1, Managed: true, Spec: spec, Message: "accepted", Owner: "usr-1", CreatedAt: base, UpdatedAt: base}
	rev := &berth.Revision{Number: 1, Spec: spec, Cause: "create", Author: "alice", CreatedAt: base}
	return svc, rev
}

func TestServices(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		svc, rev := newService("local", "", "web")
		must(t, s.CreateService(ctx, svc, rev))
		if svc.CreatedAt.Location() != time.UTC || svc.CreatedAt.Nanosecond()%1000 != 0 {
			t.Fatalf("CreatedAt not normalised to UTC microseconds: %v", svc.CreatedAt)
		}
		got, err := s.GetService(ctx, svc.Ref())
		must(t, err)
		equal(t, "service", got, svc)

		dup, dupRev := newService("local", "", "web")
		wantCode(t, s.CreateService(ctx, dup, dupRev), berth.ECONFLICT)
		// Same name in another namespace is another service.
		other, otherRev := newService("local", "team", "web")
		must(t, s.CreateService(ctx, other, otherRev))

		// Update with a new revision.
		svc.Spec.Image, svc.Revision, svc.Stopped, svc.Status = "nginx:1", 2, true, berth.ServiceStopped
		svc.ReadyReplicas = 2 // observed state is kept too
		svc.Spec.Secrets = map[string]string{"DB_PASSWORD": "changed"}
		svc.UpdatedAt = base.Add(time.Minute)
		rev2 := &berth.Revision{Number: 2, Spec: svc.Spec, Cause: "apply", Author: "bob", CreatedAt: base.Add(time.Minute)}
		must(t, s.UpdateService(ctx, svc, rev2))
		got, err = s.GetService(ctx, svc.Ref())
		must(t, err)
		equal(t, "updated service", got, svc)

		revs, err := s.ListRevisions(ctx, svc.Ref())
		must(t, err)
		equal(t, "revisions", revs, []*berth.Revision{rev2, rev})
		r1, err := s.GetRevision(ctx, svc.Ref(), 1)
		must(t, err)
		equal(t, "revision 1 secrets", r1.Spec.Secrets, map[string]string{"DB_PASSWORD": "hunter2-web"})

		_, err = s.GetRevision(ctx, svc.Ref(), 3)
		wantCode(t, err, berth.ENOTFOUND)
		equal(t, "message", berth.ErrorMessage(err), `revision "3" not found`)

		// A duplicate revision rolls the whole update back.
		bad := *svc
		bad.Spec.Image = "nginx:2"
		wantCode(t, s.UpdateService(ctx, &bad, &berth.Revision{Number: 2, Spec: bad.Spec}), berth.ECONFLICT)
		got, err = s.GetService(ctx, svc.Ref())
		must(t, err)
		equal(t, "image after failed update", got.Spec.Image, "nginx:1")

		// Update without revision keeps revisions.
		svc.Replicas, svc.Message = 5, "scaled"
		must(t, s.UpdateService(ctx, svc, nil))
		revs, err = s.ListRevisions(ctx, svc.Ref())
		must(t, err)
		equal(t, "revision count", len(revs), 2)

		// A copy read before a newer revision (another replica's apply)
		// never puts the old spec back, with or without a revision.
		stale := *svc
		svc.Spec.Image, svc.Revision = "nginx:3", 3
		must(t, s.UpdateService(ctx, svc, &berth.Revision{Number: 3, Spec: svc.Spec}))
		stale.Message = "observed"
		err = s.UpdateService(ctx, &stale, nil)
		wantCode(t, err, berth.ECONFLICT)
		equal(t, "message", berth.ErrorMessage(err), `service "web" changed meanwhile: it is at revision 3, this change was made to revision 2; read it again`)
		stale.Spec.Image, stale.Revision = "nginx:stale", 3
		wantCode(t, s.UpdateService(ctx, &stale, &berth.Revision{Number: 3, Spec: stale.Spec}), berth.ECONFLICT)
		got, err = s.GetService(ctx, svc.Ref())
		must(t, err)
		equal(t, "service after stale writes", got, svc)

		missing := &berth.Service{Name: "nope", Target: "local"}
		wantCode(t, s.UpdateService(ctx, missing, nil), berth.ENOTFOUND)
		_, err = s.GetService(ctx, missing.Ref())
		wantCode(t, err, berth.ENOTFOUND)
		equal(t, "message", berth.ErrorMessage(err), `service "nope" not found`)

		must(t, s.DeleteService(ctx, svc.Ref()))
		_, err = s.GetService(ctx, svc.Ref())
		wantCode(t, err, berth.ENOTFOUND)
		wantCode(t, s.DeleteService(ctx, svc.Ref()), berth.ENOTFOUND)
		revs, err = s.ListRevisions(ctx, svc.Ref())
		must(t, err)
		equal(t, "revisions after delete", len(revs), 0)
		// The name can be reused, revisions start afresh.
		again, againRev := newService("local", "", "web")
		must(t, s.CreateService(ctx, again, againRev))
	})
}

func TestListServices(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		// Inserted out of order, listed by target, namespace, name.
		refs := []berth.ServiceRef{
			{Target: "kube", Namespace: "b", Name: "a"}, {Target: "kube", Namespace: "a", Name: "z"},
			{Target: "local", Name: "c"}, {Target: "local", Name: "a"}, {Target: "kube", Namespace: "a", Name: "b"},
		}
		for _, r := range refs {
			svc, rev := newService(r.Target, r.Namespace, r.Name)
			must(t, s.CreateService(ctx, svc, rev))
		}
		names := func(svcs []*berth.Service) []string {
			var out []string
			for _, v := range svcs {
				out = append(out, v.Ref().String())
			}
			return out
		}
		all := []string{"kube:a/b", "kube:a/z", "kube:b/a", "local:a", "local:c"}
		tests := []struct {
			name  string
			f     berth.ServiceFilter
			want  []string
			total int
		}{
			{"all", berth.ServiceFilter{}, all, 5},
			{"page", berth.ServiceFilter{Offset: 1, Limit: 2}, all[1:3], 5},
			{"offset only", berth.ServiceFilter{Offset: 3}, all[3:], 5},
			{"past end", berth.ServiceFilter{Offset: 9, Limit: 2}, nil, 5},
			{"target", berth.ServiceFilter{Target: "local"}, all[3:], 2},
			{"namespace", berth.ServiceFilter{Target: "kube", Namespace: "a"}, all[:2], 2},
			{"name", berth.ServiceFilter{Name: "a"}, []string{"kube:b/a", "local:a"}, 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.ListServices(ctx, tt.f)
				must(t, err)
				equal(t, "services", names(got), tt.want)
				equal(t, "total", total, tt.total)
			})
		}
		got, _, err := s.ListServices(ctx, berth.ServiceFilter{Name: "c"})
		must(t, err)
		equal(t, "listed secrets", got[0].Spec.Secrets, map[string]string{"DB_PASSWORD": "hunter2-c"})
	})
}

func newEnv(id, user, target string, created time.Time) *berth.Environment {
	return &berth.Environment{
		ID: id, UserID: user, Name: "ws " + id, Status: berth.EnvRunning, CloudProvider: berth.ProviderAzure,
		CloudRegion: "westeurope", Target: target, Template: "python", ACIContainerGroupID: "/subs/x/cg-" + id,
		ACIPublicIP: "10.0.0.1", AzureFileShareName: "share-" + id, VSCodeURL: "http://10.0.0.1:8080",
		CPUCores: 2, MemoryGB: 4, StorageGB: 20, BaseImage: "ubuntu:24.04", GitUserName: "Alice",
		GitUserEmail: "alice@example.com", Env: map[string]string{"EDITOR": "vim"}, AutoStopMinutes: 30,
		Message: "ok", Stopped: false,
		Secrets:   berth.EnvSecrets{GithubToken: "ghp_secret_" + id, CodeServerPassword: "pw-" + id, OpenAIAPIKey: "sk-" + id},
		CreatedAt: created, UpdatedAt: created, LastAccessedAt: created,
	}
}

func TestEnvironments(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		env := newEnv("env-1", "usr-a", "aci", base)
		must(t, s.CreateEnvironment(ctx, env))
		got, err := s.GetEnvironment(ctx, "env-1")
		must(t, err)
		equal(t, "environment", got, env)
		wantCode(t, s.CreateEnvironment(ctx, newEnv("env-1", "usr-a", "aci", base)), berth.ECONFLICT)

		env.Status, env.Stopped, env.Message = berth.EnvStopped, true, "stopped by alice"
		env.Secrets = berth.EnvSecrets{AnthropicAPIKey: "sk-ant-new"}
		env.Env, env.VSCodeURL, env.UpdatedAt = nil, "", base.Add(time.Hour)
		must(t, s.UpdateEnvironment(ctx, env))
		got, err = s.GetEnvironment(ctx, "env-1")
		must(t, err)
		equal(t, "updated environment", got, env)

		// Touch moves lastAccessedAt forward only.
		for _, tc := range []struct {
			at, want time.Time
		}{
			{base.Add(2 * time.Hour), base.Add(2 * time.Hour)},
			{base.Add(time.Hour), base.Add(2 * time.Hour)},
			{base.Add(3 * time.Hour), base.Add(3 * time.Hour)},
		} {
			must(t, s.TouchEnvironment(ctx, "env-1", tc.at))
			got, err = s.GetEnvironment(ctx, "env-1")
			must(t, err)
			if !got.LastAccessedAt.Equal(tc.want.Truncate(time.Microsecond)) {
				t.Fatalf("after touch %v lastAccessedAt = %v, want %v", tc.at, got.LastAccessedAt, tc.want)
			}
		}

		wantCode(t, s.TouchEnvironment(ctx, "env-x", base), berth.ENOTFOUND)
		wantCode(t, s.UpdateEnvironment(ctx, newEnv("env-x", "u", "t", base)), berth.ENOTFOUND)
		_, err = s.GetEnvironment(ctx, "env-x")
		wantCode(t, err, berth.ENOTFOUND)
		equal(t, "message", berth.ErrorMessage(err), `environment "env-x" not found`)

		must(t, s.DeleteEnvironment(ctx, "env-1"))
		wantCode(t, s.DeleteEnvironment(ctx, "env-1"), berth.ENOTFOUND)

		// A generated ID.
		gen := newEnv("", "u", "local", time.Time{})
		must(t, s.CreateEnvironment(ctx, gen))
		if gen.ID == "" || gen.CreatedAt.IsZero() {
			t.Fatalf("ID/CreatedAt not set: %+v", gen)
		}
	})
}

func TestListEnvironments(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		// env-0 oldest; env-4 and env-5 share a creation time (ordered by id).
		for i := range 6 {
			user, target := "usr-a", "local"
			if i%2 == 1 {
				user = "usr-b"
			}
			if i >= 3 {
				target = "aci"
			}
			created := base.Add(time.Duration(min(i, 4)) * time.Minute)
			must(t, s.CreateEnvironment(ctx, newEnv(fmt.Sprintf("env-%d", i), user, target, created)))
		}
		tests := []struct {
			name  string
			f     berth.EnvironmentFilter
			want  []string
			total int
		}{
			{"all newest first", berth.EnvironmentFilter{}, []string{"env-4", "env-5", "env-3", "env-2", "env-1", "env-0"}, 6},
			{"page", berth.EnvironmentFilter{Offset: 2, Limit: 2}, []string{"env-3", "env-2"}, 6},
			{"user", berth.EnvironmentFilter{UserID: "usr-b"}, []string{"env-5", "env-3", "env-1"}, 3},
			{"target", berth.EnvironmentFilter{Target: "local"}, []string{"env-2", "env-1", "env-0"}, 3},
			{"user and target", berth.EnvironmentFilter{UserID: "usr-a", Target: "aci", Limit: 1}, []string{"env-4"}, 1},
			{"none", berth.EnvironmentFilter{UserID: "nobody"}, nil, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.ListEnvironments(ctx, tt.f)
				must(t, err)
				var ids []string
				for _, e := range got {
					ids = append(ids, e.ID)
					if e.Secrets.GithubToken != "ghp_secret_"+e.ID {
						t.Fatalf("secrets of %s not restored in list", e.ID)
					}
				}
				equal(t, "ids", ids, tt.want)
				equal(t, "total", total, tt.total)
			})
		}
	})
}

func TestUsersAndKeys(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		alice := &berth.User{ID: "usr-a", Username: "alice", Role: berth.RoleAdmin, PasswordHash: "$2a$hash", CreatedAt: base, UpdatedAt: base}
		bob := &berth.User{ID: "usr-b", Username: "bob", Role: berth.RoleViewer, CreatedAt: base, UpdatedAt: base}
		must(t, s.CreateUser(ctx, alice))
		must(t, s.CreateUser(ctx, bob))
		wantCode(t, s.CreateUser(ctx, &berth.User{ID: "usr-c", Username: "alice", Role: berth.RoleViewer}), berth.ECONFLICT)

		got, err := s.GetUser(ctx, "usr-a")
		must(t, err)
		equal(t, "user", got, alice)
		got, err = s.GetUserByUsername(ctx, "bob")
		must(t, err)
		equal(t, "user by name", got, bob)
		_, err = s.GetUserByUsername(ctx, "carol")
		wantCode(t, err, berth.ENOTFOUND)
		_, err = s.GetUser(ctx, "usr-x")
		wantCode(t, err, berth.ENOTFOUND)

		bob.Role, bob.UpdatedAt = berth.RoleOperator, base.Add(time.Hour)
		must(t, s.UpdateUser(ctx, bob))
		got, err = s.GetUser(ctx, "usr-b")
		must(t, err)
		equal(t, "updated user", got, bob)
		taken := *bob
		taken.Username = "alice"
		wantCode(t, s.UpdateUser(ctx, &taken), berth.ECONFLICT)
		wantCode(t, s.UpdateUser(ctx, &berth.User{ID: "usr-x", Username: "x"}), berth.ENOTFOUND)

		users, err := s.ListUsers(ctx)
		must(t, err)
		equal(t, "users", users, []*berth.User{alice, bob})
		n, err := s.CountUsers(ctx)
		must(t, err)
		equal(t, "count", n, 2)

		exp := base.Add(24 * time.Hour)
		k1 := &berth.APIKey{ID: "k1", Name: "ci", UserID: "usr-a", Role: berth.RoleOperator, SecretHash: []byte{0, 1, 2, 255}, CreatedAt: base, ExpiresAt: &exp}
		k2 := &berth.APIKey{ID: "k2", Name: "bot", UserID: "usr-b", Role: berth.RoleViewer, SecretHash: []byte("h2"), CreatedAt: base.Add(time.Second)}
		k3 := &berth.APIKey{ID: "k3", Name: "bot2", UserID: "usr-b", Role: berth.RoleViewer, SecretHash: []byte("h3"), CreatedAt: base.Add(2 * time.Second)}
		for _, k := range []*berth.APIKey{k1, k2, k3} {
			must(t, s.CreateAPIKey(ctx, k))
		}
		wantCode(t, s.CreateAPIKey(ctx, &berth.APIKey{ID: "k1", UserID: "usr-a", Role: berth.RoleViewer}), berth.ECONFLICT)
		gotKey, err := s.GetAPIKey(ctx, "k1")
		must(t, err)
		equal(t, "key", gotKey, k1)

		used := base.Add(5 * time.Minute)
		must(t, s.TouchAPIKey(ctx, "k2", used))
		k2.LastUsedAt = func() *time.Time { u := used.UTC().Truncate(time.Microsecond); return &u }()
		wantCode(t, s.TouchAPIKey(ctx, "kx", used), berth.ENOTFOUND)

		keys, err := s.ListAPIKeys(ctx, "")
		must(t, err)
		equal(t, "all keys", keys, []*berth.APIKey{k1, k2, k3})
		keys, err = s.ListAPIKeys(ctx, "usr-b")
		must(t, err)
		equal(t, "bob's keys", keys, []*berth.APIKey{k2, k3})

		must(t, s.DeleteAPIKey(ctx, "k3"))
		wantCode(t, s.DeleteAPIKey(ctx, "k3"), berth.ENOTFOUND)
		_, err = s.GetAPIKey(ctx, "k3")
		wantCode(t, err, berth.ENOTFOUND)
		equal(t, "message", berth.ErrorMessage(err), `apikey "k3" not found`)

		// Deleting a user deletes that user's keys only.
		must(t, s.DeleteUser(ctx, "usr-b"))
		wantCode(t, s.DeleteUser(ctx, "usr-b"), berth.ENOTFOUND)
		keys, err = s.ListAPIKeys(ctx, "")
		must(t, err)
		equal(t, "keys after delete", keys, []*berth.APIKey{k1})
	})
}

func TestRevokedTokens(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		must(t, s.RevokeToken(ctx, "jti-old", now.Add(-time.Minute))) // already expired
		must(t, s.RevokeToken(ctx, "jti-1", now.Add(time.Hour)))
		must(t, s.RevokeToken(ctx, "jti-1", now.Add(2*time.Hour))) // idempotent
		for jti, want := range map[string]bool{"jti-1": true, "jti-2": false, "jti-old": false /* pruned */} {
			got, err := s.IsTokenRevoked(ctx, jti)
			must(t, err)
			if got != want {
				t.Errorf("IsTokenRevoked(%s) = %v, want %v", jti, got, want)
			}
		}
	})
}

// TestWSTickets: a ticket is redeemed once, before it expires, and is
// stored only as its hash; concurrent redeemers get it exactly once.
func TestWSTickets(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		alice := berth.Actor{UserID: "usr-a", Username: "alice", Role: berth.RoleOperator, KeyID: "key1"}
		must(t, s.SaveTicket(ctx, []byte("hash-live"), alice, now.Add(time.Minute)))
		must(t, s.SaveTicket(ctx, []byte("hash-old"), alice, now.Add(-time.Second)))
		must(t, s.SaveTicket(ctx, []byte("hash-late"), alice, now.Add(time.Second)))

		tests := []struct {
			name string
			hash string
			at   time.Time
			ok   bool
		}{
			{"live", "hash-live", now, true},
			{"replayed", "hash-live", now, false},
			{"unknown", "hash-none", now, false},
			{"expired before saving the next one", "hash-old", now, false},
			{"redeemed after it expired", "hash-late", now.Add(2 * time.Second), false},
		}
		for _, tc := range tests {
			a, ok, err := s.RedeemTicket(ctx, []byte(tc.hash), tc.at)
			must(t, err)
			if ok != tc.ok {
				t.Errorf("%s: redeemed = %v, want %v", tc.name, ok, tc.ok)
			}
			if ok && a != alice {
				t.Errorf("%s: actor = %+v, want %+v", tc.name, a, alice)
			}
		}
		// Nothing is left: used, expired and late tickets are all gone.
		var n int
		must(t, s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM ws_tickets").Scan(&n))
		if n != 0 {
			t.Errorf("%d tickets left in the table", n)
		}

		must(t, s.SaveTicket(ctx, []byte("hash-race"), alice, now.Add(time.Minute)))
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := s.RedeemTicket(ctx, []byte("hash-race"), now)
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
			t.Errorf("a ticket redeemed concurrently was accepted %d times, want once", wins.Load())
		}
	})
}

func TestAudit(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		type row struct {
			user, id, typ, status string
		}
		rows := []row{
			{"alice", "usr-a", "scale", berth.AuditCompleted},
			{"bob", "usr-b", "scale", berth.AuditFailed},
			{"alice", "usr-a", "restart", berth.AuditCompleted},
			{"system", "system", "stop", berth.AuditCompleted},
			{"bob", "usr-b", "restart", berth.AuditCompleted},
		}
		var entries []*berth.AuditEntry
		var lastID int64
		for i, r := range rows {
			e := &berth.AuditEntry{Timestamp: base.Add(time.Duration(i) * time.Minute), UserID: r.id, Username: r.user,
				Action: "service." + r.typ, Type: r.typ, ResourceType: "service", Resource: "web", Target: "local",
				Status: r.status, DurationMs: int64(10 * i), RequestID: fmt.Sprintf("req-%d", i)}
			if r.status == berth.AuditFailed {
				e.Error = "boom"
				e.Details = map[string]any{"replicas": float64(3), "from": "cli"}
			}
			must(t, s.AppendAudit(ctx, e))
			if e.ID <= lastID {
				t.Fatalf("ID %d not above previous %d", e.ID, lastID)
			}
			lastID = e.ID
			entries = append(entries, e)
		}
		ids := func(es []*berth.AuditEntry) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.ID)
			}
			return out
		}
		id := func(is ...int) []int64 {
			var out []int64
			for _, i := range is {
				out = append(out, entries[i].ID)
			}
			return out
		}
		tests := []struct {
			name  string
			f     berth.AuditFilter
			want  []int64
			total int
		}{
			{"all newest first", berth.AuditFilter{}, id(4, 3, 2, 1, 0), 5},
			{"page", berth.AuditFilter{Offset: 1, Limit: 2}, id(3, 2), 5},
			{"type", berth.AuditFilter{Type: "restart"}, id(4, 2), 2},
			{"status", berth.AuditFilter{Status: berth.AuditFailed}, id(1), 1},
			{"username", berth.AuditFilter{User: "alice"}, id(2, 0), 2},
			{"user id", berth.AuditFilter{User: "usr-b"}, id(4, 1), 2},
			{"since inclusive", berth.AuditFilter{Since: entries[3].Timestamp}, id(4, 3), 2},
			{"combined", berth.AuditFilter{User: "bob", Type: "scale", Status: berth.AuditFailed, Since: base}, id(1), 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := s.ListAudit(ctx, tt.f)
				must(t, err)
				equal(t, "ids", ids(got), tt.want)
				equal(t, "total", total, tt.total)
			})
		}
		got, _, err := s.ListAudit(ctx, berth.AuditFilter{Status: berth.AuditFailed})
		must(t, err)
		equal(t, "entry", got[0], entries[1])
	})
}

// TestLastAdmin: the store never leaves zero admins. A demotion or deletion
// of the last admin is CONFLICT and changes nothing; two admins demoting
// each other at once (or deleting each other) leave exactly one admin.
func TestLastAdmin(t *testing.T) {
	t.Parallel()
	eachKind(t, func(t *testing.T, s *store.Store) {
		ada := &berth.User{ID: "usr-ada", Username: "ada", Role: berth.RoleAdmin, CreatedAt: base, UpdatedAt: base}
		must(t, s.CreateUser(ctx, ada))
		demoted := *ada
		demoted.Role = berth.RoleOperator
		wantCode(t, s.UpdateUser(ctx, &demoted), berth.ECONFLICT)
		wantCode(t, s.DeleteUser(ctx, ada.ID), berth.ECONFLICT)
		got, err := s.GetUser(ctx, ada.ID)
		must(t, err)
		equal(t, "role after refused demotion", got.Role, berth.RoleAdmin)
		// Other changes of the last admin (password, epoch) still go through.
		ada.SessionEpoch, ada.PasswordHash = 3, "$2a$new"
		must(t, s.UpdateUser(ctx, ada))
		got, err = s.GetUser(ctx, ada.ID)
		must(t, err)
		equal(t, "epoch", got.SessionEpoch, int64(3))

		for round := range 20 {
			a := &berth.User{ID: fmt.Sprintf("usr-a%d", round), Username: fmt.Sprintf("a%d", round), Role: berth.RoleAdmin}
			b := &berth.User{ID: fmt.Sprintf("usr-b%d", round), Username: fmt.Sprintf("b%d", round), Role: berth.RoleAdmin}
			must(t, s.CreateUser(ctx, a))
			must(t, s.CreateUser(ctx, b))
			// The admin left by the previous round (ada at first) steps
			// down, so that a and b are the only admins.
			users, err := s.ListUsers(ctx)
			must(t, err)
			for _, u := range users {
				if u.Role == berth.RoleAdmin && u.ID != a.ID && u.ID != b.ID {
					u.Role = berth.RoleViewer
					must(t, s.UpdateUser(ctx, u))
				}
			}
			var wg sync.WaitGroup
			var ok, conflict atomic.Int32
			for i, u := range []*berth.User{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var err error
					if (round+i)%3 != 0 { // mostly demotions, some deletions
						d := *u
						d.Role = berth.RoleOperator
						err = s.UpdateUser(ctx, &d)
					} else {
						err = s.DeleteUser(ctx, u.ID)
					}
					switch {
					case err == nil:
						ok.Add(1)
					case berth.IsCode(err, berth.ECONFLICT):
						conflict.Add(1)
					default:
						t.Errorf("round %d: %v", round, err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || conflict.Load() != 1 {
				t.Fatalf("round %d: %d changes went through, %d conflicts; want 1 and 1", round, ok.Load(), conflict.Load())
			}
			users, err = s.ListUsers(ctx)
			must(t, err)
			admins := 0
			for _, u := range users {
				if u.Role == berth.RoleAdmin {
					admins++
				}
			}
			if admins != 1 {
				t.Fatalf("round %d: %d admins remain, want 1", round, admins)
			}
		}
	})
}

// TestSQLitePathWithURICharacters: a data dir whose name holds what a SQLite
// URI reads as query or fragment ("#", "?", "%") opens that very file, not a
// truncated path elsewhere (it used to open "<dir>/a" for "<dir>/a#1/berth.db").
func TestSQLitePathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a#1?x=%41", "berth.db")
	st, err := store.Open(context.Background(), path, storetest.NewSealer())
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer st.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("database not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files outside the data dir: %v", entries)
	}
}
