package api

import "github.com/berthhq/berth"

// Error is the body of every error answer: {"error": CODE, "message", "field"}.
// Field names the request field at fault, for INVALID_REQUEST.
type Error struct {
	Error   berth.Code `json:"error"`
	Message string     `json:"message"`
	Field   string     `json:"field,omitempty"`
}
