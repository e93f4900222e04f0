package core

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/auth"
	"github.com/berthhq/berth/store"
	"github.com/berthhq/berth/store/storetest"
)

type recorder struct {
	mu  sync.Mutex
	evs []berth.Event
}

func (r *recorder) Publish(_ context.Context, e berth.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

func (r *recorder) take() []berth.Revocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []berth.Revocation
	for _, e := range r.evs {
		if e.Topic == berth.TopicSessions {
			out = append(out, e.Data.(berth.Revocation))
		}
	}
	r.evs = nil
	return out
}

// Cheap hashes for every test of the package, set once: parallel tests
// setting the global themselves raced (CI's -race caught it).
func init() { auth.BcryptCost = 4 }

// TestAccountsCredentialsEnd: each change ends what it should — a password
// change the user's sessions (not keys), a role change sessions and keys'
// connections (keys act with the new role at once), a deletion everything,
// a deleted key that key — both for new requests (Authenticate) and for
// open connections (Check, and the revocation event published).
func TestAccountsCredentialsEnd(t *testing.T) {
	t.Parallel()
	ctx := berth.WithActor(context.Background(), berth.System)
	st := storetest.Open(t, store.SQLite, nil)
	rec := &recorder{}
	now := time.Now()
	a := &Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32)}, Events: rec, Now: func() time.Time { return now }}
	if _, err := a.CreateUser(ctx, "root", "root-password", berth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateUser(ctx, "ada", "first-password", berth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	session := func() (string, berth.Actor) {
		tok, _, _, err := a.Login(ctx, "ada", "first-password")
		if err != nil {
			t.Fatal(err)
		}
		act, err := a.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		return tok, act
	}
	tok, act := session()
	_, key, err := a.CreateAPIKey(berth.WithActor(ctx, act), "ci", berth.RoleOperator, 0)
	if err != nil {
		t.Fatal(err)
	}
	keyAct, err := a.Authenticate(ctx, key)
	if err != nil || keyAct.Role != berth.RoleOperator {
		t.Fatalf("key: %+v %v", keyAct, err)
	}
	unauth := func(what string, err error) {
		t.Helper()
		if !berth.IsCode(err, berth.EUNAUTHORIZED) {
			t.Errorf("%s: %v, want UNAUTHORIZED", what, err)
		}
	}
	ok := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	ok("check a fresh session", a.Check(ctx, act))
	ok("check a fresh key", a.Check(ctx, keyAct))

	// Password: sessions end, the key does not.
	if _, err := a.UpdateUser(ctx, u.ID, "", "second-password"); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(ctx, tok)
	unauth("token after a password change", err)
	unauth("check session after a password change", a.Check(ctx, act))
	ok("check key after a password change", a.Check(ctx, keyAct))
	if revs := rec.take(); len(revs) != 1 || revs[0].UserID != u.ID || !revs[0].SessionsOnly {
		t.Errorf("password change published %+v", revs)
	}

	// Role: sessions end and the key acts with the new role at once.
	tok, act, _ = func() (string, berth.Actor, error) {
		tok, _, _, err := a.Login(ctx, "ada", "second-password")
		if err != nil {
			t.Fatal(err)
		}
		act, err := a.Authenticate(ctx, tok)
		return tok, act, err
	}()
	if _, err := a.UpdateUser(ctx, u.ID, berth.RoleViewer, ""); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(ctx, tok)
	unauth("token after a role change", err)
	unauth("check session after a role change", a.Check(ctx, act))
	unauth("check key connection after a role change", a.Check(ctx, keyAct))
	if k, err := a.Authenticate(ctx, key); err != nil || k.Role != berth.RoleViewer {
		t.Errorf("key after demotion to viewer: %+v %v", k, err)
	}
	if revs := rec.take(); len(revs) != 1 || revs[0].SessionsOnly {
		t.Errorf("role change published %+v", revs)
	}
	// Setting the same role again changes nothing and ends nothing.
	tok, _, _, _ = a.Login(ctx, "ada", "second-password")
	if _, err := a.UpdateUser(ctx, u.ID, berth.RoleViewer, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, tok); err != nil {
		t.Errorf("token after a no-op update: %v", err)
	}
	if revs := rec.take(); len(revs) != 0 {
		t.Errorf("a no-op update published %+v", revs)
	}

	// Expiry: a connection whose token has expired is refused by Check.
	_, act2, _ := func() (string, berth.Actor, error) { act, err := a.Authenticate(ctx, tok); return tok, act, err }()
	now = now.Add(2 * time.Hour)
	unauth("check an expired session", a.Check(ctx, act2))
	now = now.Add(-2 * time.Hour)

	// Delete: everything ends.
	keyAct, _ = a.Authenticate(ctx, key)
	if err := a.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = a.Authenticate(ctx, key)
	unauth("key of a deleted user", err)
	_, err = a.Authenticate(ctx, tok)
	unauth("token of a deleted user", err)
	unauth("check key connection of a deleted user", a.Check(ctx, keyAct))
	if revs := rec.take(); len(revs) != 1 || revs[0].UserID != u.ID || revs[0].SessionsOnly || revs[0].KeyID != "" {
		t.Errorf("delete published %+v", revs)
	}

	// The last admin: CONFLICT, nothing changed, nothing published.
	root, _ := st.GetUserByUsername(ctx, "root")
	_, err = a.UpdateUser(ctx, root.ID, berth.RoleOperator, "")
	if !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("demote the last admin: %v", err)
	}
	if err := a.DeleteUser(ctx, root.ID); !berth.IsCode(err, berth.ECONFLICT) {
		t.Errorf("delete the last admin: %v", err)
	}
	rootAct := berth.Actor{UserID: root.ID, Username: "root", Role: berth.RoleAdmin}
	if err := a.DeleteUser(berth.WithActor(ctx, rootAct), root.ID); !berth.IsCode(err, berth.ECONFLICT) ||
		!strings.Contains(berth.ErrorMessage(err), "last admin") {
		t.Errorf("the last admin deleting itself: %v", err)
	}
	// Another admin beside it: deleting yourself is still refused (400).
	if _, err := a.CreateUser(ctx, "other", "other-password", berth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUser(berth.WithActor(ctx, rootAct), root.ID); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("an admin deleting itself: %v", err)
	}
	if got, _ := st.GetUser(ctx, root.ID); got.Role != berth.RoleAdmin || got.SessionEpoch != 0 {
		t.Errorf("last admin after refused changes: %+v", got)
	}
	if revs := rec.take(); len(revs) != 0 {
		t.Errorf("refused changes published %+v", revs)
	}
}

// TestLoginFailuresPerUsername: bad passwords for one username are
// limited after the burst, alike for a username that does not exist; the
// right password waits too; other usernames are not affected.
func TestLoginFailuresPerUsername(t *testing.T) {
	t.Parallel()
	ctx := berth.WithActor(context.Background(), berth.System)
	st := storetest.Open(t, store.SQLite, nil)
	a := &Accounts{Store: st, Tokens: &auth.Tokens{Key: make([]byte, 32)}, LoginFailures: auth.NewLimiter(0.001, 3)}
	for _, n := range []string{"ada", "bob"} {
		if _, err := a.CreateUser(ctx, n, n+"-password", berth.RoleViewer); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ada", "ghost"} {
		var codes []berth.Code
		for range 5 {
			_, _, _, err := a.Login(ctx, name, "wrong-password")
			codes = append(codes, berth.ErrorCode(err))
		}
		want := []berth.Code{berth.EUNAUTHORIZED, berth.EUNAUTHORIZED, berth.EUNAUTHORIZED, berth.ERATELIMITED, berth.ERATELIMITED}
		for i := range want {
			if codes[i] != want[i] {
				t.Fatalf("%s: codes %v, want %v", name, codes, want)
			}
		}
	}
	if _, _, _, err := a.Login(ctx, "ADA", "ada-password"); !berth.IsCode(err, berth.ERATELIMITED) {
		t.Errorf("right password for a limited username (other case): %v", err)
	}
	if _, _, _, err := a.Login(ctx, "bob", "bob-password"); err != nil {
		t.Errorf("another username: %v", err)
	}
}
