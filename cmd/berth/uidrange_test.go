package main

import (
	"os"
	"strings"
	"testing"
)

// TestUIDRangeCheckedAtLoad: loadServerConfig refuses a local target whose
// uidRange local.TargetConfig rejects, naming the target and the field.
func TestUIDRangeCheckedAtLoad(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	dir := t.TempDir()
	path := dir + "/berth.yaml"
	if err := os.WriteFile(path, []byte("targets:\n  - name: local\n    type: local\n    uidRange: 10-5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadServerConfig(getenv, path); err == nil || !strings.Contains(err.Error(), "uidRange") || !strings.Contains(err.Error(), "local") {
		t.Errorf("a reversed uidRange: %v, want an error naming target local and uidRange", err)
	}
}
