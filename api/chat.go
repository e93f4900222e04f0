package api

import "time"

// ChatRequest is the body of POST /api/v1/chat: a message (with the context
// the previous answer returned), or the token of a confirm step.
type ChatRequest struct {
	Message string `json:"message,omitempty"`
	Context string `json:"context,omitempty"`
	Confirm string `json:"confirm,omitempty"`
}

// ChatAction is one action the chat did (or refused) for the caller.
type ChatAction struct {
	Action  string `json:"action"`  // "service.scale"
	Target  string `json:"target"`  // the target it ran on
	Subject string `json:"subject"` // "web", an environment's name
	Status  string `json:"status"`  // completed | failed
	Result  string `json:"result"`  // what happened, in one line
}

// ChatConfirm is the confirm step of a mutation: POST {"confirm": token}
// does it, once, for the same user, before expiresAt.
type ChatConfirm struct {
	Token     string    `json:"token"`
	Summary   string    `json:"summary"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ChatCode is generated code (a service spec, Kubernetes manifests).
type ChatCode struct {
	Language string `json:"language"`
	Content  string `json:"content"`
}

// ChatResponse is the answer of POST /api/v1/chat.
type ChatResponse struct {
	Reply       string       `json:"reply"`
	Intent      string       `json:"intent"`
	Actions     []ChatAction `json:"actions"`
	Confirm     *ChatConfirm `json:"confirm"`
	Code        *ChatCode    `json:"code"`
	Suggestions []string     `json:"suggestions"`
	Context     string       `json:"context"`
}
