package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
	"github.com/berthhq/berth/chat"
	"github.com/berthhq/berth/core"
)

// handleChat answers POST /api/v1/chat: a message, or {"confirm": token}.
// The request is audited as chat.message (its text redacted) by the route
// table; each action it executed as that action itself, with via: chat.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	st.audit.resourceType = "chat"
	if s.Chat == nil {
		writeError(w, r, berth.Errorf(berth.EUNAVAILABLE, "chat is not configured on this server"))
		return
	}
	var req api.ChatRequest
	if err := decode(r, &req, true); err != nil {
		writeError(w, r, err)
		return
	}
	st.audit.details = map[string]any{"message": chat.Redact(req.Message)}
	if req.Confirm != "" {
		st.audit.details["confirm"] = true
	}
	out, err := s.Chat.Handle(r.Context(), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	st.audit.details["message"] = out.Message
	st.audit.details["intent"] = out.Response.Intent
	st.audit.resource = out.Response.Intent
	for _, ex := range out.Executed {
		s.auditChatAction(r, st, ex)
	}
	writeJSON(w, http.StatusOK, out.Response)
}

// auditChatAction writes the entry of an action the chat executed, as the
// REST route of that action would, marked via: chat.
func (s *Server) auditChatAction(r *http.Request, st *reqState, ex chat.Executed) {
	resType, verb, _ := strings.Cut(ex.Action.Action, ".")
	e := &berth.AuditEntry{
		Timestamp: s.Now().UTC(), UserID: st.actor.UserID, Username: st.actor.Username,
		Action: ex.Action.Action, Type: verb, ResourceType: resType, Resource: ex.Resource, Target: ex.Action.Target,
		Status: ex.Action.Status, DurationMs: ex.Duration.Milliseconds(), RequestID: st.id, Details: ex.Details,
	}
	if ex.Action.Status == berth.AuditFailed {
		e.Error = ex.Action.Result
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Audit.AppendAudit(ctx, e); err != nil {
		s.Logger.Error("append audit entry", "action", e.Action, "err", err, "request_id", st.id)
		return
	}
	if s.Events != nil {
		s.Events.Publish(ctx, core.AuditEvent(e))
	}
}
