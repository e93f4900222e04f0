package e2e

import "testing"

// steps runs a long test as named steps, in order, each a subtest: a
// failure names its step, and a failed step ends the test, since the later
// steps build on what it left. While a step runs, the helpers of each of
// uses (a Berth's use, a browser's Use) report on it.
func steps(t *testing.T, uses ...func(*testing.T) (restore func())) func(name string, f func(t *testing.T)) {
	return func(name string, f func(t *testing.T)) {
		t.Helper()
		ok := t.Run(name, func(st *testing.T) {
			for _, use := range uses {
				defer use(st)()
			}
			f(st)
		})
		if !ok {
			t.FailNow()
		}
	}
}

// use makes b's helpers (MustDo, Do, …) report on t until restore.
func (b *Berth) use(t *testing.T) (restore func()) {
	prev := b.t
	b.t = t
	return func() { b.t = prev }
}
