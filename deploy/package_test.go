package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pkgVersion is the version the package tests build with `make package`.
const pkgVersion = "1.2.3"

var pkgBuild struct {
	once     sync.Once
	deb, rpm string
	err      string
}

// packages runs `make package` once per test binary (TestDebPackage and
// TestRpmPackage share it: the build takes half a minute) and returns the
// .deb and the .rpm it made.
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	pkgBuild.once.Do(func() {
		cmd := exec.Command("make", "package", "VERSION=v"+pkgVersion, "PKG_VERSION="+pkgVersion)
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			pkgBuild.err = fmt.Sprintf("make package: %v\n%s", err, out)
			return
		}
		debs, _ := filepath.Glob("../bin/berth_" + pkgVersion + "_amd64.deb")
		rpms, _ := filepath.Glob("../bin/berth-" + pkgVersion + "-1.x86_64.rpm")
		if len(debs) != 1 || len(rpms) != 1 {
			pkgBuild.err = fmt.Sprintf("make package made %v and %v", debs, rpms)
			return
		}
		pkgBuild.deb, pkgBuild.rpm = debs[0], rpms[0]
	})
	if pkgBuild.err != "" {
		t.Fatal(pkgBuild.err)
	}
	return pkgBuild.deb, pkgBuild.rpm
}

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
	const version = pkgVersion
	deb, _ := packages(t)
	t.Cleanup(func() {
		if out, err := exec.Command(dpkg, "--purge", "berth").CombinedOutput(); err != nil { // #nosec G204 -- dpkg
			t.Errorf("dpkg --purge berth: %v\n%s", err, out)
		}
	})
	run(t, ".", dpkg, "-i", deb)

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

// TestRpmPackage reads the .rpm that `make package` made with rpm itself
// (Debian's rpm package): its header, every file with mode, owner and
// digest, the scriptlets that create the berth user and hand it the
// configuration, the %config(noreplace) files, the requirements, and the
// payload's digests. It does not install the .rpm: rpm -i on Debian would
// keep a second package database beside dpkg's and put files under dpkg's
// feet; TestDebPackage installs the same contents (the same binary, unit,
// configuration and scripts from packaging/) with dpkg.
func TestRpmPackage(t *testing.T) {
	rpmBin := tool(t, "rpm", "rpm")
	_, rpm := packages(t)
	query := func(args ...string) string { return run(t, ".", rpmBin, append(args, rpm)...) }

	info := query("-qp", "--info")
	for _, want := range []string{"Name        : berth", "Version     : " + pkgVersion, "Release     : 1",
		"Architecture: x86_64", "License     : NOASSERTION", "Summary     : berth, a self-hosted control plane"} {
		if !strings.Contains(info, want) {
			t.Errorf("rpm -qp --info lacks %q:\n%s", want, info)
		}
	}

	// rpm -qlp -v: mode, links, owner, group, size, date, path.
	listed := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(query("-qlp", "-v")), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 {
			t.Fatalf("rpm -qlp -v: line %q", line)
		}
		listed[f[len(f)-1]] = f
	}
	for _, f := range []struct{ path, mode string }{
		{"/usr/bin/berth", "-rwxr-xr-x"},
		{"/usr/lib/systemd/system/berth.service", "-rw-r--r--"},
		{"/etc/berth/berth.yaml", "-rw-r-----"},
		{"/etc/berth/berth.env", "-rw-r-----"},
		{"/usr/share/man/man1/berth.1.gz", "-rw-r--r--"},
		{"/usr/share/man/man1/berth-serve.1.gz", "-rw-r--r--"},
		{"/usr/share/bash-completion/completions/berth", "-rw-r--r--"},
		{"/usr/share/zsh/vendor-completions/_berth", "-rw-r--r--"},
		{"/usr/share/fish/vendor_completions.d/berth.fish", "-rw-r--r--"},
		{"/usr/share/doc/berth/multi-tenant.conf", "-rw-r--r--"},
	} {
		got, ok := listed[f.path]
		if !ok {
			t.Errorf("rpm -qlp: no %s", f.path)
			continue
		}
		// The package owns its files as root:root; the postinstall
		// scriptlet (checked below) hands /etc/berth to the group berth,
		// which does not exist before it runs.
		if got[0] != f.mode || got[2] != "root" || got[3] != "root" {
			t.Errorf("%s: %s %s:%s, want %s root:root", f.path, got[0], got[2], got[3], f.mode)
		}
	}
	for path := range listed {
		if !strings.HasPrefix(path, "/usr/") && !strings.HasPrefix(path, "/etc/berth/") {
			t.Errorf("rpm -qlp: %s is outside /usr and /etc/berth", path)
		}
	}

	// The packaged berth is the binary make package built, byte for byte.
	bin, err := os.ReadFile("../bin/package/berth")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	// rpm -qp --dump: path, size, mtime, digest (SHA-256), mode, owner, group, …
	var digest string
	for _, line := range strings.Split(query("-qp", "--dump"), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "/usr/bin/berth" {
			digest = f[3]
		}
	}
	if want := hex.EncodeToString(sum[:]); digest != want {
		t.Errorf("rpm -qp --dump: /usr/bin/berth has digest %q, want bin/package/berth's %s", digest, want)
	}

	scripts := query("-qp", "--scripts")
	for _, want := range []string{
		"postinstall scriptlet", "groupadd --system berth",
		"useradd --system --gid berth --home-dir /var/lib/berth",
		"--shell /usr/sbin/nologin",
		"chown root:berth /etc/berth /etc/berth/berth.yaml /etc/berth/berth.env",
		"chmod 0750 /etc/berth", "chmod 0640 /etc/berth/berth.yaml /etc/berth/berth.env",
		"preuninstall scriptlet", "systemctl stop berth.service",
		// rpm passes 0 to %postun on erase (1 on upgrade): only then do
		// the user, its state and the configuration go.
		"postuninstall scriptlet", "purge|0)", "userdel berth", "groupdel berth",
	} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm -qp --scripts lacks %q:\n%s", want, scripts)
		}
	}

	if got := strings.Fields(query("-qp", "--configfiles")); strings.Join(got, " ") != "/etc/berth/berth.env /etc/berth/berth.yaml" {
		t.Errorf("rpm -qp --configfiles: %v, want berth.env and berth.yaml", got)
	}
	// %config(noreplace): rpm's file flags c (config) and n (noreplace).
	flags := query("-qp", "--queryformat", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]")
	for _, want := range []string{"/etc/berth/berth.yaml cn\n", "/etc/berth/berth.env cn\n"} {
		if !strings.Contains(flags, want) {
			t.Errorf("rpm file flags lack %q (%%config(noreplace)):\n%s", want, flags)
		}
	}

	requires := strings.Split(strings.TrimSpace(query("-qp", "--requires")), "\n")
	if !slices.Contains(requires, "ca-certificates") {
		t.Errorf("rpm -qp --requires: %v, want ca-certificates", requires)
	}
	// Requires(post): what the postinstall scriptlet runs, so that rpm
	// installs it before berth (rpm prints these as "post" dependencies).
	deps := query("-qp", "--queryformat", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]")
	for _, want := range []string{"/bin/sh post\n", "/usr/sbin/groupadd post\n", "/usr/sbin/useradd post\n"} {
		if !strings.Contains(deps, want) {
			t.Errorf("rpm requires lack %q:\n%s", want, deps)
		}
	}
	if rec := strings.TrimSpace(query("-qp", "--recommends")); rec != "tzdata" {
		t.Errorf("rpm -qp --recommends: %q, want tzdata", rec)
	}

	// Header and payload digests as rpm computes them (nfpm does not sign).
	if out := query("-K", "--nosignature"); !strings.Contains(out, "digests OK") {
		t.Errorf("rpm -K --nosignature: %s", out)
	}
}
