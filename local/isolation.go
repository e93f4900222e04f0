package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The default uid range of isolated workloads: 1900000000-1900065535.
// It is above the ranges that hosts hand out (system users < 1000, regular
// users up to 60000, systemd's dynamic users 61184-65519, nobody 65534,
// /etc/subuid and /etc/subgid ranges from SUB_UID_MIN 100000 up to
// SUB_UID_MAX 600100000, systemd-nspawn's container range 524288-1879048191)
// and below 2^31, where tools that keep uids in a signed int break and where
// systemd's "foreign" range starts (2147352576).
const (
	DefaultUIDMin uint32 = 1_900_000_000
	DefaultUIDMax uint32 = 1_900_065_535
)

// UnownedKey is the identity of services stored before berth recorded an
// owner: they run as a uid of their own, shared by ownerless services only.
const UnownedKey = "(unowned)"

// ShimCommand is the hidden first argument with which berth starts itself as
// the first step of an isolated workload: already running as the workload's
// uid (set at fork), it sets no_new_privs, a 022 umask, and executes the
// workload. Go's SysProcAttr has no field for no_new_privs.
const ShimCommand = "__berth-exec"

const prSetNoNewPrivs = 38 // PR_SET_NO_NEW_PRIVS from <linux/prctl.h>

// RunShim is `berth __berth-exec PATH ARGV0 ARGS...`: it never returns.
// main calls it before anything else when os.Args[1] is ShimCommand.
func RunShim(args []string) {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "berth: "+ShimCommand+" PATH ARGV0 [ARGS...]")
		os.Exit(127)
	}
	if err := setNoNewPrivs(); err != nil {
		fmt.Fprintf(os.Stderr, "berth: set no_new_privs: %v\n", err)
		os.Exit(127)
	}
	syscall.Umask(0o022)
	err := syscall.Exec(args[0], args[1:], os.Environ()) // #nosec G204 -- the shim runs the workload's own command in place: what the local runtime is for
	fmt.Fprintf(os.Stderr, "berth: exec %s: %v\n", args[0], err)
	if errors.Is(err, syscall.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

// identity is who a workload runs as. A zero identity (berth not isolating)
// runs as berth's own user.
type identity struct {
	uid, gid uint32
	set      bool
}

func (id identity) credential() *syscall.Credential {
	if !id.set {
		return nil
	}
	return &syscall.Credential{Uid: id.uid, Gid: id.gid, Groups: []uint32{}}
}

// identityOf returns the identity of owner's workloads (a berth user id;
// empty for records from before owners were kept).
func (r *Runtime) identityOf(ctx context.Context, owner string) (identity, error) {
	if !r.isolate {
		return identity{}, nil
	}
	if owner == "" {
		owner = UnownedKey
	}
	r.idMu.Lock()
	defer r.idMu.Unlock()
	if id, ok := r.ids[owner]; ok {
		return id, nil
	}
	uid, err := r.cfg.UIDs.WorkloadUID(ctx, owner, r.cfg.UIDMin, r.cfg.UIDMax)
	if err != nil {
		return identity{}, fmt.Errorf("uid of user %s: %w", owner, err)
	}
	if uid == 0 {
		return identity{}, fmt.Errorf("uid of user %s: the store answered uid 0", owner)
	}
	id := identity{uid: uid, gid: uid, set: true} // the group of the same number is the user's own
	r.ids[owner] = id
	return id, nil
}

// mkdirReal creates dir (0700 when new) and checks that it is a directory,
// not a link to one elsewhere: berth, as root, then changes its owner.
func mkdirReal(dir string) (fs.FileInfo, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return fi, nil
}

// workloadTop creates the top directory of one workload: berth's and the
// workload's group's, 0750. The workload reads it (its config) but cannot
// rename or replace what berth creates in it, so berth, as root, never
// works on a path the workload could have turned into a link elsewhere.
// Only the directories the workload writes (work, home, workspace) are its
// uid's, made by ownedDir.
func workloadTop(dir string, id identity) error {
	if _, err := mkdirReal(dir); err != nil {
		return err
	}
	if !id.set {
		return os.Chmod(dir, 0o700) // #nosec G302 -- a directory: 0700 is private
	}
	if err := os.Lchown(dir, os.Geteuid(), int(id.gid)); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil { // #nosec G302 -- a directory: the workload's group reads it, cannot write it
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// groupReadable makes the tree at dir readable, not writable, by id's
// group: berth's own config files that the workload reads.
func groupReadable(dir string, id identity) error {
	if !id.set {
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := os.Lchown(p, os.Geteuid(), int(id.gid)); err != nil { // #nosec G122 -- a tree of berth's (root-owned, group read-only): the workload cannot swap a path in it
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o750) // #nosec G122 G302 -- a directory of berth's, group read-only; the workload cannot swap a path in it
		}
		return os.Chmod(p, 0o640) // #nosec G122 G302 -- 0640: the workload's group reads berth's config file; the tree is root-owned, so no path in it can be swapped
	})
	if err != nil {
		return fmt.Errorf("give %s to group %d: %w", dir, id.gid, err)
	}
	return nil
}

// ownedDir creates dir (0700) for a workload of id, and gives it and
// everything below to id when it belongs to someone else (a directory made
// before isolation, or before the uid was assigned).
func ownedDir(dir string, id identity) error {
	fi, err := mkdirReal(dir)
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // #nosec G302 -- a directory: 0700 is private to its uid
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	if !id.set {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == id.uid && st.Gid == id.gid {
		return nil
	}
	return chownTree(dir, id)
}

// chownTree gives dir and everything below it to id, never following links.
func chownTree(dir string, id identity) error {
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(id.uid), int(id.gid)) // #nosec G122 -- only a tree no process of the uid could write (root-owned 0700, made before isolation) is walked; Lchown never follows a link
	})
	if err != nil {
		return fmt.Errorf("give %s to uid %d: %w", dir, id.uid, err)
	}
	return nil
}

// sharedDir is a directory above workloads' own: with isolation 0711, so a
// workload can pass through it to its own directory but not list the others.
func (r *Runtime) sharedDir(dir string) error {
	mode := os.FileMode(0o700)
	if r.isolate {
		mode = 0o711
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", dir, err)
	}
	return nil
}

// checkReachable warns when a path a workload must execute or enter is not
// reachable by other users (a 0700 directory on the way).
func (r *Runtime) checkReachable(what, path string) {
	for p := path; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			r.log.Warn("isolated workloads cannot reach "+what+": a directory or file on its path is not executable by other users",
				"path", path, "blocking", p)
			return
		}
		if p == filepath.Dir(p) {
			return
		}
	}
}

// removeAllBut removes dir's entries except keep, keeping dir.
func removeAllBut(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ent := range entries {
		if ent.Name() == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return err
		}
	}
	return nil
}
