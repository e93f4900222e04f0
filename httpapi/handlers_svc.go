package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/core"
)

// query reads which service a request names. On a cluster target the name
// may carry the namespace, escaped: /services/team-a%2Fweb (DESIGN §3).
func query(r *http.Request) core.ServiceQuery {
	q := r.URL.Query()
	sq := core.ServiceQuery{Name: r.PathValue("name"), Target: q.Get("target"), Namespace: q.Get("namespace")}
	if ns, name, ok := strings.Cut(sq.Name, "/"); ok && sq.Namespace == "" {
		sq.Namespace, sq.Name = ns, name
	}
	return sq
}

func (s *Server) handleListServices(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	l, err := s.Core.ListServices(r.Context(), r.URL.Query().Get("target"), (page-1)*size, size)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if l.Services == nil {
		l.Services = []*berth.Service{}
	}
	writeJSON(w, http.StatusOK, api.ServiceList{Services: l.Services, Unreachable: l.Unreachable,
		Page: api.Page{Total: l.Total, Page: page, PageSize: size}})
}

func (s *Server) handleGetService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.Core.GetService(r.Context(), query(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ServiceResult{Service: svc})
}

func (s *Server) handleApplyService(w http.ResponseWriter, r *http.Request) {
	var spec berth.ServiceSpec
	if err := decode(r, &spec, true); err != nil {
		writeError(w, r, err)
		return
	}
	cond, err := applyCondition(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType = "service"
	st.audit.target = spec.Target
	st.audit.details = map[string]any{"revisionSpec": auditSpec(spec)}
	svc, created, err := s.Core.ApplyServiceIf(r.Context(), r.PathValue("name"), spec, cond)
	if svc != nil {
		st.audit.target = svc.Target
		st.audit.details["revision"] = svc.Revision
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	code, msg := http.StatusOK, "Service updated successfully"
	if created {
		code, msg = http.StatusCreated, "Service created successfully"
	}
	writeJSON(w, code, api.ServiceResult{Service: svc, Message: msg})
}

// auditSpec is what the audit log keeps of a spec: never secret values.
func auditSpec(spec berth.ServiceSpec) map[string]any {
	red := spec.Redacted()
	var m map[string]any
	b, _ := json.Marshal(red)
	_ = json.Unmarshal(b, &m)
	if files, ok := m["config"].(map[string]any); ok { // file bodies can be large: names only
		if f, ok := files["files"].(map[string]any); ok {
			names := make([]string, 0, len(f))
			for k := range f {
				names = append(names, k)
			}
			m["config"] = map[string]any{"files": names}
		}
	}
	return m
}

// changeQuery is query with the revision an If-Match header requires.
func changeQuery(r *http.Request) (core.ServiceQuery, error) {
	q := query(r)
	cond, err := applyCondition(r)
	if err != nil {
		return q, err
	}
	if cond.Absent {
		return q, berth.Invalid("If-None-Match", "cannot be met by a change to an existing service: it takes If-Match only")
	}
	q.Revision = cond.Revision
	return q, nil
}

func (s *Server) svcAction(w http.ResponseWriter, r *http.Request, done string, fn func(q core.ServiceQuery) (*berth.Service, error)) {
	st := state(r)
	st.audit.resourceType = "service"
	q, err := changeQuery(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st.audit.target = q.Target
	svc, err := fn(q)
	if svc != nil {
		st.audit.target = svc.Target
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ServiceResult{Service: svc, Message: done})
}

func (s *Server) handleDeleteService(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.audit.resourceType = "service"
	q, err := changeQuery(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	svc, err := s.Core.DeleteService(r.Context(), q)
	if svc != nil {
		st.audit.target = svc.Target
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: "Service deleted successfully", Name: svc.Name})
}

func (s *Server) handleStartService(w http.ResponseWriter, r *http.Request) {
	s.svcAction(w, r, "Service started", func(q core.ServiceQuery) (*berth.Service, error) {
		return s.Core.StartService(r.Context(), q)
	})
}

func (s *Server) handleStopService(w http.ResponseWriter, r *http.Request) {
	s.svcAction(w, r, "Service stopped", func(q core.ServiceQuery) (*berth.Service, error) {
		return s.Core.StopService(r.Context(), q)
	})
}

func (s *Server) handleRestartService(w http.ResponseWriter, r *http.Request) {
	s.svcAction(w, r, "Service restarting", func(q core.ServiceQuery) (*berth.Service, error) {
		return s.Core.RestartService(r.Context(), q)
	})
}

func (s *Server) handleScaleService(w http.ResponseWriter, r *http.Request) {
	var body api.ScaleRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Replicas == nil {
		writeError(w, r, berth.Invalid("replicas", "is required"))
		return
	}
	state(r).audit.details = map[string]any{"replicas": *body.Replicas}
	s.svcAction(w, r, message("Service scaled to %d", *body.Replicas), func(q core.ServiceQuery) (*berth.Service, error) {
		return s.Core.ScaleService(r.Context(), q, *body.Replicas)
	})
}

func (s *Server) handleRollbackService(w http.ResponseWriter, r *http.Request) {
	var body api.RollbackRequest
	// An empty body means "the previous revision".
	if err := decodeOptional(r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	state(r).audit.details = map[string]any{"toRevision": body.Revision}
	s.svcAction(w, r, "Service rolled back", func(q core.ServiceQuery) (*berth.Service, error) {
		svc, err := s.Core.RollbackService(r.Context(), q, body.Revision)
		if svc != nil {
			state(r).audit.details["revision"] = svc.Revision
		}
		return svc, err
	})
}

func (s *Server) handleRevisions(w http.ResponseWriter, r *http.Request) {
	revs, err := s.Core.ListRevisions(r.Context(), query(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RevisionList{Revisions: revs, Total: len(revs)})
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := s.Core.GetConfig(r.Context(), query(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ServiceConfig{Config: berth.Config{Files: cfg.Files}, Env: cfg.Env, Revision: cfg.Revision})
}

func (s *Server) handleUpdateConfig(w http.ResponseWriter, r *http.Request) {
	var body api.ConfigUpdate
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	names := []string{}
	for k := range body.Files {
		names = append(names, k)
	}
	state(r).audit.details = map[string]any{"files": names, "envKeys": len(body.Env)}
	s.svcAction(w, r, "Service configuration updated", func(q core.ServiceQuery) (*berth.Service, error) {
		return s.Core.UpdateConfig(r.Context(), q, body.Files, body.Env)
	})
}

const maxTail = 10000

// logOptions parses tail (default 100, 0 = all within the bound), since,
// follow, previous, replica and container.
func (s *Server) logOptions(r *http.Request) (berth.LogOptions, error) {
	q := r.URL.Query()
	opts := berth.LogOptions{Tail: 100, Replica: q.Get("replica"), Container: q.Get("container")}
	var err error
	if v := q.Get("tail"); v != "" {
		if opts.Tail, err = strconv.Atoi(v); err != nil || opts.Tail < 0 || opts.Tail > maxTail {
			return opts, berth.Invalid("tail", "must be a whole number from 0 to %d, got %q", maxTail, v)
		}
		if opts.Tail == 0 {
			opts.Tail = maxTail // 0 means "all", bounded all the same
		}
	}
	if opts.Since, err = querySince(r, "since", s.Now()); err != nil {
		return opts, err
	}
	if opts.Follow, err = queryBool(r, "follow"); err != nil {
		return opts, err
	}
	if opts.Previous, err = queryBool(r, "previous"); err != nil {
		return opts, err
	}
	return opts, nil
}

// serveLogs answers log lines: a JSON list, or with follow=true an NDJSON
// stream flushed per line until the client goes or the server shuts down.
// resolve checks the subject exists first, so a bad name is still a JSON
// error; read produces the lines.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, key, name string, resolve func() error,
	read func(ctx context.Context, opts berth.LogOptions, fn func(berth.LogLine) error) error) {
	opts, err := s.logOptions(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !opts.Follow {
		lines := []berth.LogLine{}
		if err := read(r.Context(), opts, func(l berth.LogLine) error {
			lines = append(lines, l)
			return nil
		}); err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, logsAnswer(key, name, lines))
		return
	}
	if err := resolve(); err != nil {
		writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.streams, cancel)
	defer stop()
	err = read(ctx, opts, func(l berth.LogLine) error {
		if err := enc.Encode(l); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil && ctx.Err() == nil {
		s.Logger.Warn("follow logs", key, name, "err", err, "request_id", state(r).id)
	}
}

// logsAnswer is the JSON answer of a log read: api.ServiceLogs or
// api.EnvironmentLogs by key.
func logsAnswer(key, name string, lines []berth.LogLine) any {
	if key == "environment" {
		return api.EnvironmentLogs{Environment: name, Lines: lines}
	}
	return api.ServiceLogs{Service: name, Lines: lines}
}

func (s *Server) handleServiceLogs(w http.ResponseWriter, r *http.Request) {
	q := query(r)
	s.serveLogs(w, r, "service", q.Name,
		func() error { _, err := s.Core.GetService(r.Context(), q); return err },
		func(ctx context.Context, opts berth.LogOptions, fn func(berth.LogLine) error) error {
			_, err := s.Core.ServiceLogs(ctx, q, opts, fn)
			return err
		})
}
