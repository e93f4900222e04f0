package deploy

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// TestDebPackage builds the packages with `make package`, installs the
// .deb on this machine with dpkg -i and checks from outside berth: the
// files and their modes and owners, the berth system user, the conffiles,
// `systemd-analyze verify` of the unit, the installed berth's version;
// then purges it and checks that the machine is as it was (no files, no
// user). Root only: dpkg installs for real.
func TestDebPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the package test installs a .deb: run it as root")
		}
		t.Skip("not root: dpkg -i needs root")
	}
	dpkg := tool(t, "dpkg", "dpkg")
	analyze := tool(t, "systemd-analyze", "systemd")
	if out, err := exec.Command(dpkg, "-s", "berth").CombinedOutput(); err == nil { // #nosec G204 -- dpkg
		t.Skipf("a berth package is installed already; not touching it:\n%s", out)
	}
	if _, err := user.Lookup("berth"); err == nil {
		t.Skip("a user berth exists already; not touching it")
	}
	const version = "1.2.3"
	run(t, "..", "make", "package", "VERSION=v"+version, "PKG_VERSION="+version)
	debs, _ := filepath.Glob("../bin/berth_" + version + "_amd64.deb")
	rpms, _ := filepath.Glob("../bin/berth-" + version + "*.rpm")
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("make package made %v and %v", debs, rpms)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(dpkg, "--purge", "berth").CombinedOutput(); err != nil { // #nosec G204 -- dpkg
			t.Errorf("dpkg --purge berth: %v\n%s", err, out)
		}
	})
	run(t, ".", dpkg, "-i", debs[0])

	for _, f := range []struct {
		path, mode, owner string
	}{
		{"/usr/bin/berth", "755", "root:root"},
		{"/usr/lib/systemd/system/berth.service", "644", "root:root"},
		{"/etc/berth", "750", "root:berth"},
		{"/etc/berth/berth.yaml", "640", "root:berth"},
		{"/etc/berth/berth.env", "640", "root:berth"},
		{"/usr/share/man/man1/berth.1.gz", "644", "root:root"},
		{"/usr/share/man/man1/berth-serve.1.gz", "644", "root:root"},
		{"/usr/share/bash-completion/completions/berth", "644", "root:root"},
		{"/usr/share/zsh/vendor-completions/_berth", "644", "root:root"},
		{"/usr/share/fish/vendor_completions.d/berth.fish", "644", "root:root"},
		{"/usr/share/doc/berth/multi-tenant.conf", "644", "root:root"},
	} {
		got := strings.TrimSpace(run(t, ".", "stat", "-c", "%a %U:%G", f.path))
		if got != f.mode+" "+f.owner {
			t.Errorf("%s: %s, want %s %s", f.path, got, f.mode, f.owner)
		}
	}
	pw := strings.TrimSpace(run(t, ".", "getent", "passwd", "berth"))
	if f := strings.Split(pw, ":"); len(f) != 7 || f[5] != "/var/lib/berth" || f[6] != "/usr/sbin/nologin" {
		t.Errorf("user berth: %q, want home /var/lib/berth and no login shell", pw)
	}
	if status := run(t, ".", dpkg, "-s", "berth"); !strings.Contains(status, "/etc/berth/berth.yaml") ||
		!strings.Contains(status, "Version: "+version) {
		t.Errorf("dpkg -s berth: no conffile /etc/berth/berth.yaml or version %s:\n%s", version, status)
	}
	if out := run(t, ".", "/usr/bin/berth", "version"); !strings.Contains(out, "berth v"+version) || strings.Contains(out, "commit: unknown") {
		t.Errorf("installed berth version:\n%s", out)
	}
	if out, err := exec.Command(analyze, "verify", "/usr/lib/systemd/system/berth.service").CombinedOutput(); err != nil || // #nosec G204 -- systemd-analyze
		strings.Contains(string(out), "berth.service:") {
		t.Errorf("systemd-analyze verify berth.service: %v\n%s", err, out)
	}
	unit := run(t, ".", "cat", "/usr/lib/systemd/system/berth.service")
	for _, want := range []string{"User=berth", "StateDirectory=berth", "ProtectSystem=strict", "NoNewPrivileges=yes", "--config /etc/berth/berth.yaml"} {
		if !strings.Contains(unit, want) {
			t.Errorf("berth.service lacks %s", want)
		}
	}

	run(t, ".", dpkg, "--purge", "berth")
	for _, p := range []string{"/usr/bin/berth", "/etc/berth", "/usr/lib/systemd/system/berth.service", "/usr/share/man/man1/berth.1.gz", "/var/lib/berth"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is still there after dpkg --purge", p)
		}
	}
	if _, err := user.Lookup("berth"); err == nil {
		t.Error("user berth is still there after dpkg --purge")
	}
	if _, err := user.LookupGroup("berth"); err == nil {
		t.Error("group berth is still there after dpkg --purge")
	}
}
