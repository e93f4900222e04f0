package httpapi

import (
	"net/http"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body api.LoginRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType, st.audit.resource, st.audit.username = "user", body.Username, body.Username
	if s.authBlocked(w, r) {
		return
	}
	tok, exp, u, err := s.Accounts.Login(r.Context(), body.Username, body.Password)
	if err != nil {
		if berth.IsCode(err, berth.EUNAUTHORIZED) {
			s.authFailed(r)
		}
		writeError(w, r, err)
		return
	}
	st.actor = berth.Actor{UserID: u.ID, Username: u.Username, Role: u.Role}
	writeJSON(w, http.StatusOK, api.LoginResult{Token: tok, ExpiresAt: exp.UTC().Truncate(time.Second), User: *u})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.audit.resourceType, st.audit.resource = "user", st.actor.Username
	if err := s.Accounts.Logout(r.Context(), st.bearer); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: "Logged out"})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	a := state(r).actor
	u, err := s.Accounts.GetUser(r.Context(), a.UserID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Me{User: u, Role: a.Role, KeyID: a.KeyID})
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.Accounts.ListUsers(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if users == nil {
		users = []*berth.User{}
	}
	writeJSON(w, http.StatusOK, api.UserList{Users: users, Total: len(users)})
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var body api.CreateUserRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType, st.audit.details = "user", map[string]any{"username": body.Username, "role": body.Role}
	u, err := s.Accounts.CreateUser(r.Context(), body.Username, body.Password, body.Role)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st.audit.resource = u.ID
	writeJSON(w, http.StatusCreated, api.UserEnvelope{User: u})
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := s.Accounts.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.UserEnvelope{User: u})
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var body api.UpdateUserRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType = "user"
	st.audit.details = map[string]any{"role": body.Role, "passwordChanged": body.Password != ""}
	u, err := s.Accounts.UpdateUser(r.Context(), r.PathValue("id"), body.Role, body.Password)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.UserEnvelope{User: u})
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	state(r).audit.resourceType = "user"
	if err := s.Accounts.DeleteUser(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: "User deleted", ID: id})
}

func (s *Server) handleListAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Accounts.ListAPIKeys(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if keys == nil {
		keys = []*berth.APIKey{}
	}
	writeJSON(w, http.StatusOK, api.APIKeyList{APIKeys: keys, Total: len(keys)})
}

func (s *Server) handleCreateAPIKey(w http.ResponseWriter, r *http.Request) {
	var body api.CreateAPIKeyRequest
	if err := decode(r, &body, true); err != nil {
		writeError(w, r, err)
		return
	}
	st := state(r)
	st.audit.resourceType = "apikey"
	st.audit.details = map[string]any{"name": body.Name, "role": body.Role, "expiresInDays": body.ExpiresInDays}
	k, full, err := s.Accounts.CreateAPIKey(r.Context(), body.Name, body.Role, body.ExpiresInDays)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st.audit.resource = k.ID
	writeJSON(w, http.StatusCreated, api.CreatedAPIKey{APIKey: k, Key: full,
		Message: "Store this key now: it is not shown again"})
}

func (s *Server) handleDeleteAPIKey(w http.ResponseWriter, r *http.Request) {
	state(r).audit.resourceType = "apikey"
	id := r.PathValue("id")
	if err := s.Accounts.DeleteAPIKey(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.Ack{Message: "API key deleted", ID: id})
}
