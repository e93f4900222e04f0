package httpapi

import (
	"context"
	"net/http"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func (s *Server) handleCreateEnvironment(w http.ResponseWriter, r *http.Request) {
	var req berth.CreateEnvironmentRequest
	// Lenient: Dev8 clients send fields berth does not know (e.g. "region").
	if err := decode(r, &req, false); err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType = "environment"
	st.audit.details = map[string]any{"name": req.Name, "cloudProvider": req.CloudProvider, "cloudRegion": req.CloudRegion,
		"cpuCores": req.CPUCores, "memoryGB": req.MemoryGB, "storageGB": req.StorageGB}
	env, err := s.Core.CreateEnvironment(r.Context(), req)
	if env != nil {
		st.audit.resource, st.audit.target = env.ID, env.Target
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.EnvironmentEnvelope{Environment: env, Message: "Environment created successfully"})
}

func (s *Server) handleListEnvironments(w http.ResponseWriter, r *http.Request) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	envs, total, err := s.Core.ListEnvironments(r.Context(), r.URL.Query().Get("userId"), (page-1)*size, size)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if envs == nil {
		envs = []*berth.Environment{}
	}
	writeJSON(w, http.StatusOK, api.EnvironmentList{Environments: envs, Page: api.Page{Total: total, Page: page, PageSize: size}})
}

func (s *Server) handleGetEnvironment(w http.ResponseWriter, r *http.Request) {
	env, err := s.Core.GetEnvironment(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.EnvironmentEnvelope{Environment: env})
}

func (s *Server) envAction(w http.ResponseWriter, r *http.Request, done string, fn func() (*berth.Environment, error)) {
	st := state(r)
	st.audit.resourceType = "environment"
	env, err := fn()
	if env != nil {
		st.audit.target = env.Target
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: done, ID: env.ID})
}

func (s *Server) handleStartEnvironment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.envAction(w, r, "Environment started successfully", func() (*berth.Environment, error) {
		return s.Core.StartEnvironment(r.Context(), id)
	})
}

func (s *Server) handleStopEnvironment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.envAction(w, r, "Environment stopped successfully", func() (*berth.Environment, error) {
		return s.Core.StopEnvironment(r.Context(), id)
	})
}

func (s *Server) handleDeleteEnvironment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	keep, err := queryBool(r, "keepVolume")
	if err != nil {
		writeError(w, r, err)
		return
	}
	state(r).audit.details = map[string]any{"keepVolume": keep}
	s.envAction(w, r, "Environment deleted successfully", func() (*berth.Environment, error) {
		return s.Core.DeleteEnvironment(r.Context(), id, keep)
	})
}

// handleActivity takes a workspace's activity report. The caller is the
// workspace (its activity token) or a user who may see the environment:
// core decides.
func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var act berth.Activity
	if err := decode(r, &act, false); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.Core.RecordActivity(r.Context(), id, act); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: "Activity recorded", ID: id})
}

func (s *Server) handleRestartEnvironment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.envAction(w, r, "Environment restarted successfully", func() (*berth.Environment, error) {
		return s.Core.RestartEnvironment(r.Context(), id)
	})
}

func (s *Server) handleEnvironmentLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.serveLogs(w, r, "environment", id,
		func() error { _, err := s.Core.GetEnvironment(r.Context(), id); return err },
		func(ctx context.Context, opts berth.LogOptions, fn func(berth.LogLine) error) error {
			_, err := s.Core.EnvironmentLogs(ctx, id, opts, fn)
			return err
		})
}
