// Package berth holds the domain of the berth control plane: its types, the
// interfaces adapters implement (stores, runtimes) and the error codes every
// layer speaks. It depends on nothing but the standard library.
package berth

import (
	"errors"
	"fmt"
	"strings"
)

// Code is an application error code. It is what API clients see in the
// "error" field; httpapi maps it to an HTTP status.
type Code string

const (
	EINVALID      Code = "INVALID_REQUEST"
	EUNAUTHORIZED Code = "UNAUTHORIZED"
	EFORBIDDEN    Code = "FORBIDDEN"
	ENOTFOUND     Code = "NOT_FOUND"
	ECONFLICT     Code = "CONFLICT"
	ERATELIMITED  Code = "RATE_LIMITED"
	ENOTSUPPORTED Code = "NOT_SUPPORTED"
	EUNAVAILABLE  Code = "UNAVAILABLE"
	EENVIRONMENT  Code = "ENVIRONMENT_ERROR"
	ESERVICE      Code = "SERVICE_ERROR"
	EINTERNAL     Code = "INTERNAL_ERROR"
)

// Codes lists every code, for documentation and tests.
func Codes() []Code {
	return []Code{EINVALID, EUNAUTHORIZED, EFORBIDDEN, ENOTFOUND, ECONFLICT, ERATELIMITED,
		ENOTSUPPORTED, EUNAVAILABLE, EENVIRONMENT, ESERVICE, EINTERNAL, EQUOTA}
}

// Error is the one error type of berth. Message is safe to show to a client:
// it must never contain a secret. Field names the request field at fault for
// INVALID_REQUEST errors.
type Error struct {
	Code    Code
	Message string
	Field   string
	Err     error // underlying cause, for logs; not shown to clients
}

func (e *Error) Error() string {
	// A message that already ends with the cause's text (adapters put the
	// cause in what users read) does not repeat it.
	if e.Err != nil && !strings.HasSuffix(e.Message, e.Err.Error()) {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an INVALID_REQUEST error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// NotFound returns a NOT_FOUND error for a kind of resource ("environment")
// and its id, in the message form clients rely on: environment "env-x" not found.
func NotFound(kind, id string) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf("%s %q not found", kind, id)}
}

// NotSupported returns a NOT_SUPPORTED error for a capability a target lacks.
func NotSupported(target, capability string) *Error {
	return &Error{Code: ENOTSUPPORTED, Message: fmt.Sprintf("target %q does not support %s", target, capability)}
}

// Wrap keeps the code and client message of an *Error found in err and
// prefixes the message with what was being done. Errors that carry no code
// become code with the given message; their text stays in Err for the logs.
func Wrap(err error, code Code, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Field: e.Field, Message: msg + ": " + e.Message, Err: err}
	}
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL when there is none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Errors without a code
// answer a generic message so that internal details (which may hold paths,
// SQL or secrets) never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
