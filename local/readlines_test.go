package local

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readLines splits a process's output into lines as the pipe delivers it,
// in any chunking: lines longer than its small buffer come whole, lines over
// maxLineBytes are cut to maxLineBytes and the next line is intact.
func TestReadLines(t *testing.T) {
	t.Parallel()
	mid := strings.Repeat("m", 3*readBufBytes+5) // over the buffer, under the cap
	huge := strings.Repeat("h", maxLineBytes+readBufBytes+7)
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"short lines", "a\nbb\n\nccc\n", []string{"a", "bb", "", "ccc"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"last line without newline", "a\nb", []string{"a", "b"}},
		{"empty", "", nil},
		{"line longer than the buffer", "x\n" + mid + "\ny\n", []string{"x", mid, "y"}},
		{"line over the cap", huge + "\nafter\n", []string{huge[:maxLineBytes], "after"}},
		{"line over the cap at the end", "before\n" + huge, []string{"before", huge[:maxLineBytes]}},
		{"line of exactly the cap", huge[:maxLineBytes] + "\nz\n", []string{huge[:maxLineBytes], "z"}},
	} {
		for _, rd := range []struct {
			name string
			r    func(string) io.Reader
		}{
			{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
			{"byte by byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
			{"halves", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
		} {
			t.Run(c.name+"/"+rd.name, func(t *testing.T) {
				var got []string
				readLines(rd.r(c.in), func(s string) { got = append(got, s) })
				if len(got) != len(c.want) {
					t.Fatalf("%d lines %v, want %d", len(got), abbrev(got), len(c.want))
				}
				for i := range got {
					if got[i] != c.want[i] {
						t.Errorf("line %d: %d bytes %q…, want %d bytes %q…", i, len(got[i]), head(got[i]), len(c.want[i]), head(c.want[i]))
					}
				}
			})
		}
	}
}

func head(s string) string { return s[:min(len(s), 12)] }

func abbrev(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = head(l)
	}
	return out
}
