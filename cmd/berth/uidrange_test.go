package main

import (
	"os"
	"testing"
)

// TestParseUIDRange: a local target's uidRange is MIN-MAX of unprivileged
// uids below 2^31; anything else is refused by loadServerConfig.
func TestParseUIDRange(t *testing.T) {
	cases := []struct {
		in     string
		lo, hi uint32
		ok     bool
	}{
		{"", 0, 0, true}, // the runtime's default
		{"1900000000-1900065535", 1900000000, 1900065535, true},
		{" 200000 - 200099 ", 200000, 200099, true},
		{"5000-5000", 5000, 5000, true},
		{"0-100", 0, 0, false},
		{"999-2000", 0, 0, false},
		{"3000-2000", 0, 0, false},
		{"2000-2147483648", 0, 0, false},
		{"2000", 0, 0, false},
		{"a-b", 0, 0, false},
		{"-1-5", 0, 0, false},
	}
	for _, tc := range cases {
		lo, hi, err := parseUIDRange(tc.in)
		if (err == nil) != tc.ok || lo != tc.lo || hi != tc.hi {
			t.Errorf("parseUIDRange(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
	getenv := func(string) string { return "" }
	dir := t.TempDir()
	path := dir + "/berth.yaml"
	if err := os.WriteFile(path, []byte("targets:\n  - name: local\n    type: local\n    uidRange: 10-5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadServerConfig(getenv, path); err == nil {
		t.Error("a reversed uidRange was accepted")
	}
}
