package e2e

import (
	"fmt"
	"github.com/berthhq/berth/internal/testutil"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoginPromptHidesPassword: at a terminal, berth login asks for the
// password without echoing it. The terminal is a real pty, made by
// util-linux's script(1).
func TestLoginPromptHidesPassword(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("script(1) is required under CI (apt-get install bsdutils): %v", err)
		}
		t.Skip("no script(1) to make a terminal")
	}
	b := StartBerth(t, "", "")
	cfgPath := filepath.Join(t.TempDir(), "cli.json")
	cmd := exec.Command(scriptBin, "-q", "-e", "-c", berthBin+" login -u admin --server "+b.URL, "/dev/null")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BERTH_CONFIG="+cfgPath, "TERM=dumb")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out testutil.SyncBuffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // a test that fails leaves no login behind; after Wait, a no-op
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, stdout)
	}()
	output := out.String
	testutil.Eventually(t, testutil.Process, "the password prompt", func() (bool, string) {
		return strings.Contains(output(), "Password:"), fmt.Sprintf("output %q", output())
	})
	// A pty echoes what arrives while echo is on, before anyone reads it:
	// give the prompt a moment to switch echo off before typing.
	time.Sleep(500 * time.Millisecond)
	io.WriteString(stdin, adminPassword+"\n")
	done := make(chan error, 1)
	go func() { <-copied; done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("berth login: %v; output: %q", err, output())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("berth login did not end; output: %q", output())
	}
	if strings.Contains(output(), adminPassword) {
		t.Errorf("the terminal shows the password: %q", output())
	}
	if !strings.Contains(output(), "Logged in") {
		t.Errorf("not logged in: %q", output())
	}
	if saved, err := os.ReadFile(cfgPath); err != nil || !strings.Contains(string(saved), `"token"`) {
		t.Errorf("no token saved (%v): %s", err, saved)
	}
}
