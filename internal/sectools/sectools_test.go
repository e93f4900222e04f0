package sectools

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCheckExcuse(t *testing.T) {
	for _, tc := range []struct {
		line string
		ok   bool
	}{
		{`f()`, true},
		{`os.WriteFile(p, b, 0o644) // #nosec G306 -- the file is public by design`, true},
		{`exec.Command(a) // #nosec G204 G304 -- the command is the user's service`, true},
		{`x := 1 // #nosec`, false},                                 // excuses every rule, says nothing
		{`x := 1 // #nosec G306`, false},                            // no reason
		{`x := 1 // #nosec -- it is fine, really, trust me`, false}, // no rule
		{`x := 1 // #nosec G306 -- ok`, false},                      // a reason too short to be one
		{`x := 1 // #nosec G306 because it is public by design`, false},
	} {
		err := CheckExcuse(tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("CheckExcuse(%q) = %v, want ok=%v", tc.line, err, tc.ok)
		}
	}
}

func TestCheckExcusesFindsBareOnes(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.go"), "package a\n\nvar x = 1 // #nosec G101 -- a test constant, not a credential\n")
	write(t, filepath.Join(root, "b", "b.go"), "package b\n\nvar y = 2\nvar z = 3 // #nosec\n")
	write(t, filepath.Join(root, "testdata", "c.go"), "package c\n\nvar z = 3 // #nosec\n") // not built: not checked
	problems, err := CheckExcuses(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.HasPrefix(problems[0], filepath.Join("b", "b.go")+":4: ") {
		t.Fatalf("problems = %q, want one, at b/b.go:4", problems)
	}
}

func TestFuzzTargets(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "x_test.go"), "package x\n\nimport \"testing\"\n\nfunc FuzzB(f *testing.F) {}\nfunc FuzzA(f *testing.F) {}\nfunc TestC(t *testing.T) {}\n")
	write(t, filepath.Join(root, "p", "q", "q_test.go"), "package q\n\nimport \"testing\"\n\nfunc FuzzQ(ff *testing.F) {\n}\n// func FuzzCommented(f *testing.F) {}\n")
	write(t, filepath.Join(root, "p", "p.go"), "package p\n\nimport \"testing\"\n\nfunc FuzzNotATest(f *testing.F) {}\n")
	write(t, filepath.Join(root, "p", "testdata", "r_test.go"), "package r\n\nimport \"testing\"\n\nfunc FuzzR(f *testing.F) {}\n")
	got, err := FuzzTargets(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []FuzzTarget{{".", "FuzzA"}, {".", "FuzzB"}, {"p/q", "FuzzQ"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FuzzTargets = %v, want %v", got, want)
	}
}

// The repository's own fuzz targets are all found: `make fuzz` runs these.
func TestFuzzTargetsOfRepository(t *testing.T) {
	got, err := FuzzTargets(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	found := map[FuzzTarget]bool{}
	for _, ft := range got {
		found[ft] = true
	}
	for _, ft := range []FuzzTarget{{".", "FuzzCreateEnvironmentRequest"}, {".", "FuzzServiceSpec"}, {"httpapi", "FuzzDecode"}} {
		if !found[ft] {
			t.Errorf("%v not found in %v", ft, got)
		}
	}
}

// gosec fails on a finding and passes when the same finding is excused in
// place with a reason.
func TestRunGosec(t *testing.T) {
	bin := ensure(t, Gosec)
	dir, _ := filepath.Abs(filepath.Join("testdata", "gosec"))
	var out bytes.Buffer
	if err := RunGosec(context.Background(), bin, dir, []string{"./excused"}, &out); err != nil {
		t.Errorf("excused finding: %v\n%s", err, out.Bytes())
	}
	out.Reset()
	err := RunGosec(context.Background(), bin, dir, []string{"./unexcused"}, &out)
	if err == nil {
		t.Fatalf("unexcused finding passed:\n%s", out.Bytes())
	}
	if !bytes.Contains(out.Bytes(), []byte("G306")) || !bytes.Contains(out.Bytes(), []byte("unexcused.go:8")) {
		t.Errorf("report does not name G306 at unexcused.go:8:\n%s", out.Bytes())
	}
}

// govulncheck against the local database fails on a called vulnerable
// function and passes when the vulnerable package is only imported.
func TestRunGovulncheckCalledNotImported(t *testing.T) {
	bin := ensure(t, Govulncheck)
	db, err := EnsureVulnDB(context.Background(), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index/db.json", "index/modules.json", "index/vulns.json", "ID/GO-2021-0113.json"} {
		if fi, err := os.Stat(filepath.Join(db, f)); err != nil || fi.Size() == 0 {
			t.Errorf("database lacks %s: %v", f, err)
		}
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "vuln"))
	var out bytes.Buffer
	err = RunGovulncheck(context.Background(), bin, db, dir, []string{"./called"}, &out)
	if err == nil || !strings.Contains(err.Error(), "calls the vulnerable functions") {
		t.Errorf("called: err = %v, want a called vulnerability\n%s", err, out.Bytes())
	}
	if !bytes.Contains(out.Bytes(), []byte("GO-2021-0113")) || !bytes.Contains(out.Bytes(), []byte("language.Parse")) {
		t.Errorf("called: report does not name GO-2021-0113 and language.Parse:\n%s", out.Bytes())
	}
	out.Reset()
	if err := RunGovulncheck(context.Background(), bin, db, dir, []string{"./imported"}, &out); err != nil {
		t.Errorf("imported only: %v\n%s", err, out.Bytes())
	}
}

func ensure(t *testing.T, tool Tool) string {
	t.Helper()
	bin, err := tool.Ensure(context.Background(), os.Stderr)
	if errors.Is(err, ErrNoGo) && os.Getenv("CI") != "true" {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
