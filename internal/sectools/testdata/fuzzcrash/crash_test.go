package fuzzcrash

import "testing"

func FuzzCrash(f *testing.F) {
	f.Add("ok")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) != 2 {
			t.Fatalf("length %d", len(s))
		}
	})
}
