package workspace

import (
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

type handler struct {
	root  *os.Root
	act   *activity
	files http.Handler
}

// newHandler serves root. All file access goes through os.Root, which
// refuses any path (.. or symlink) that resolves outside the directory.
func newHandler(root *os.Root, act *activity) http.Handler {
	return &handler{root: root, act: act, files: http.FileServerFS(rootFS{root.FS()})}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
		return
	}
	h.act.touch(r.Context(), time.Now())

	// Refuse rather than clean: a request naming ".." (plain or encoded) is
	// an attempt to leave the workspace, not a path to normalize.
	if !validPath(r.URL.Path) {
		http.Error(w, "invalid path", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.files.ServeHTTP(w, r)
	case http.MethodPut:
		h.put(w, r)
	case http.MethodDelete:
		h.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func validPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return false
		}
	}
	return true
}

// relPath turns a request path into a path relative to the root ("" for the root itself).
func relPath(p string) string {
	return strings.TrimPrefix(path.Clean(p), "/")
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	rel := relPath(r.URL.Path)
	if rel == "" || strings.HasSuffix(r.URL.Path, "/") {
		http.Error(w, "PUT needs a file path", http.StatusBadRequest)
		return
	}
	dir, base := path.Split(rel)
	if dir != "" {
		if err := h.root.MkdirAll(strings.TrimSuffix(dir, "/"), 0o755); err != nil {
			fsError(w, err)
			return
		}
	}
	mode := os.FileMode(0o644)
	existed := false
	if info, err := h.root.Lstat(rel); err == nil {
		if info.IsDir() {
			http.Error(w, "path is a directory", http.StatusConflict)
			return
		}
		existed = true
		if info.Mode().IsRegular() {
			mode = info.Mode().Perm() // keep e.g. the executable bit of a script
		}
	}

	// Write to a temporary file and rename it over the target, so readers
	// never see a half-written file and a failed upload leaves the old one.
	tmp := dir + "." + base + ".upload-" + rand.Text()[:8]
	f, err := h.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		fsError(w, err)
		return
	}
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, MaxUpload))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = h.root.Rename(tmp, rel)
	}
	if err != nil {
		_ = h.root.Remove(tmp)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		fsError(w, err)
		return
	}
	if existed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	rel := relPath(r.URL.Path)
	if rel == "" {
		http.Error(w, "refusing to delete the workspace root", http.StatusBadRequest)
		return
	}
	if err := h.root.Remove(rel); err != nil {
		fsError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fsError answers a file-system error with a status and a message that does
// not reveal host paths.
func fsError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, "not found", http.StatusNotFound)
	case errors.Is(err, fs.ErrPermission), isEscape(err):
		http.Error(w, "forbidden", http.StatusForbidden)
	case errors.Is(err, syscall.ENOTEMPTY), errors.Is(err, syscall.EEXIST), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		http.Error(w, "conflict with an existing file or directory", http.StatusConflict)
	default:
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// isEscape reports whether err is os.Root refusing a path that resolves
// outside the root. The os package does not export that error, so its text
// is matched; the traversal tests pin the resulting 403.
func isEscape(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// rootFS maps os.Root's "escapes" errors to fs.ErrPermission, which
// http.FileServer answers with 403 rather than 500.
type rootFS struct{ fs.FS }

func (f rootFS) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if isEscape(err) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return file, err
}
