package main

import "testing"

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MiB", 512 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1TiB", 1 << 40, true},
		{"64KiB", 64 << 10, true},
		{"1000", 1000, true},
		{"1000B", 1000, true},
		{" 300 MiB ", 300 << 20, true},
		{"", 0, false},
		{"0", 0, false},
		{"-1GiB", 0, false},
		{"1.5GiB", 0, false},
		{"1GB", 0, false},
		{"99999999999TiB", 0, false},
	} {
		got, err := parseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
