package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionAndGenDocs: `berth version` prints the stamped version, commit
// and date; `berth gendocs` writes a man page per command and the bash,
// zsh and fish completions the packages install.
func TestVersionAndGenDocs(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "berth "+version+"\ncommit: "+commit+"\nbuilt: "+date+"\ngo: go") {
		t.Errorf("berth version: %q", out.String())
	}
	dir := t.TempDir()
	man, comp := filepath.Join(dir, "man"), filepath.Join(dir, "completions")
	if err := run(context.Background(), []string{"gendocs", "--man", man, "--completions", comp}, func(string) string { return "" }, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(man, "berth.1"):           ".TH \"BERTH\" \"1\"",
		filepath.Join(man, "berth-serve.1"):     "berth-serve",
		filepath.Join(man, "berth-svc-scale.1"): "scale",
		filepath.Join(comp, "berth.bash"):       "__start_berth",
		filepath.Join(comp, "_berth"):           "#compdef berth",
		filepath.Join(comp, "berth.fish"):       "complete -c berth",
	} {
		raw, err := os.ReadFile(path) // #nosec G304 -- a file the test wrote
		if err != nil || !strings.Contains(string(raw), want) {
			t.Errorf("%s: %v, want it to hold %q", path, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "berth-gendocs.1")); err == nil {
		t.Error("the hidden gendocs command got a man page")
	}
}
