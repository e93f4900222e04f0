package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	var mu sync.Mutex
	var out bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(output(), "Password:") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no password prompt; output: %q", output())
		}
		time.Sleep(20 * time.Millisecond)
	}
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
