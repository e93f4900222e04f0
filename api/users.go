package api

import "github.com/berthhq/berth"

// UserEnvelope is the answer of the calls on one user: {"user": …}.
type UserEnvelope struct {
	User *berth.User `json:"user"`
}

// UserList is the answer of GET /api/v1/users.
type UserList struct {
	Users []*berth.User `json:"users"`
	Total int           `json:"total"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Username string     `json:"username"`
	Password string     `json:"password"`
	Role     berth.Role `json:"role"`
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{id}: an empty
// field is left as it is.
type UpdateUserRequest struct {
	Role     berth.Role `json:"role,omitempty"`
	Password string     `json:"password,omitempty"`
}

// APIKeyList is the answer of GET /api/v1/apikeys (never the secrets).
type APIKeyList struct {
	APIKeys []*berth.APIKey `json:"apiKeys"`
	Total   int             `json:"total"`
}

// CreateAPIKeyRequest is the body of POST /api/v1/apikeys. Role "" takes
// the caller's role; ExpiresInDays 0 never expires.
type CreateAPIKeyRequest struct {
	Name          string     `json:"name"`
	Role          berth.Role `json:"role,omitempty"`
	ExpiresInDays int        `json:"expiresInDays,omitempty"`
}

// CreatedAPIKey is the answer of POST /api/v1/apikeys; Key is the full
// credential, shown only this once.
type CreatedAPIKey struct {
	APIKey  *berth.APIKey `json:"apiKey"`
	Key     string        `json:"key"`
	Message string        `json:"message,omitempty"`
}
