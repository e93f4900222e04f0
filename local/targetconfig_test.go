package local

import "testing"

// TestTargetConfigUIDRange: a local target's uidRange is MIN-MAX of
// unprivileged uids below 2^31; anything else is refused naming the field.
func TestTargetConfigUIDRange(t *testing.T) {
	t.Parallel()
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
		c, err := TargetConfig{UIDRange: tc.in}.Config(Config{})
		if (err == nil) != tc.ok || c.UIDMin != tc.lo || c.UIDMax != tc.hi {
			t.Errorf("uidRange %q: = %d, %d, %v", tc.in, c.UIDMin, c.UIDMax, err)
		}
	}
}
