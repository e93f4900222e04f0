package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/api"
)

// quickstartCommands reads the README's quick start block.
func quickstartCommands(t *testing.T) [][]string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i := strings.Index(text, "## Quick start")
	if i < 0 {
		t.Fatal("README has no Quick start section")
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	end := strings.Index(text[start+6:], "```")
	var cmds [][]string
	for _, line := range strings.Split(text[start+6:start+6+end], "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "berth ") {
			cmds = append(cmds, strings.Fields(line))
		}
	}
	if len(cmds) < 8 {
		t.Fatalf("quick start has only %d berth commands", len(cmds))
	}
	return cmds
}

// TestQuickstart runs every command of the README's quick start, as written,
// against a real server, then checks the result through the API.
func TestQuickstart(t *testing.T) {
	b := StartBerth(t, "", "")
	home := t.TempDir()
	repo, _ := filepath.Abs("..")
	for _, args := range quickstartCommands(t) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, berthBin, args[1:]...)
		cmd.Dir = repo
		cmd.Env = []string{"PATH=" + filepath.Dir(berthBin) + ":" + os.Getenv("PATH"), "HOME=" + home,
			"BERTH_URL=" + b.URL, "BERTH_PASSWORD=" + adminPassword, "BERTH_CONFIG=" + filepath.Join(home, "berth.json")}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		t.Logf("$ %s\n%s", strings.Join(args, " "), out.String())
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
	svc := waitRunning(t, b, "web", 3)
	if svc.Revision != 3 { // apply, config, rollback
		t.Errorf("web revision = %d, want 3", svc.Revision)
	}
	waitProcs(t, "web", 3)
	if m := getJSON[api.EnvironmentList](b, "/api/v1/environments"); m.Total != 1 || len(m.Environments) != 1 {
		t.Errorf("environments = %s", mustJSON(m))
	}
}
