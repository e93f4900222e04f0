package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testutil"
)

// TestApplyPreconditionCLI: `berth svc apply --create-only` and
// `--if-revision N` reach the real server as If-None-Match and If-Match; a
// precondition that fails changes nothing, read from the process table
// (which sleep the replica runs) and from the stored revision.
func TestApplyPreconditionCLI(t *testing.T) {
	b := StartBerth(t, "", "")
	dir := t.TempDir()
	apply := func(arg string, flags ...string) (string, error) {
		t.Helper()
		spec := filepath.Join(dir, "web.yaml")
		if err := os.WriteFile(spec, []byte("name: pre\ncommand: [sleep, \""+arg+"\"]\nreplicas: 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := exec.Command(berthBin, append([]string{"svc", "apply", "-f", spec}, flags...)...)
		c.Env = []string{"HOME=" + t.TempDir(), "BERTH_URL=" + b.URL, "BERTH_TOKEN=" + b.Token()}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// runs waits until the service's one replica, read from the process
	// table, runs sleep want.
	runs := func(step, want string) {
		t.Helper()
		testutil.Eventually(t, testutil.Process, step+": one replica running sleep "+want, func() (bool, string) {
			var got []string
			for _, pid := range processesOf("pre") {
				cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				got = append(got, string(bytes.ReplaceAll(bytes.TrimRight(cl, "\x00"), []byte{0}, []byte(" "))))
			}
			return len(got) == 1 && got[0] == "sleep "+want, fmt.Sprintf("replicas %q", got)
		})
	}
	revision := func() int { return num(b.MustDo(200, "GET", "/api/v1/services/pre", nil), "service", "revision") }

	for _, step := range []struct {
		name    string
		arg     string
		flags   []string
		fails   string // in the CLI's output; "" succeeds
		running string
		rev     int
	}{
		{"create only", "301", []string{"--create-only"}, "", "301", 1},
		{"create only, again", "302", []string{"--create-only"}, "already exists (revision 1)", "301", 1},
		{"at the revision read", "302", []string{"--if-revision", "1"}, "", "302", 2},
		{"a stale revision", "303", []string{"--if-revision", "1"}, "is at revision 2, and the request required revision 1", "302", 2},
		{"not a revision", "303", []string{"--if-revision", "0"}, "if-revision: must be a revision number", "302", 2},
		{"both", "303", []string{"--if-revision", "2", "--create-only"}, "none of the others can be", "302", 2},
		{"no precondition", "303", nil, "", "303", 3},
	} {
		out, err := apply(step.arg, step.flags...)
		if (err != nil) != (step.fails != "") || !strings.Contains(out, step.fails) {
			t.Fatalf("%s: %v\n%s\nwant failure %q", step.name, err, out, step.fails)
		}
		runs(step.name, step.running)
		if got := revision(); got != step.rev {
			t.Fatalf("%s: revision %d, want %d", step.name, got, step.rev)
		}
	}
}
