package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// writeError answers err in the API's error shape. Errors without a code are
// logged and answered as a generic internal error: their text may hold
// paths, SQL or worse.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := berth.ErrorCode(err)
	msg := berth.ErrorMessage(err)
	st := state(r)
	st.errMsg = msg
	if code == berth.EINTERNAL || HTTPStatus(code) >= 500 {
		if srv, ok := r.Context().Value(serverKey{}).(*Server); ok {
			srv.Logger.Error("request failed", "path", r.URL.Path, "code", code, "err", err, "request_id", st.id)
		}
	}
	var be *berth.Error
	field := ""
	if errors.As(err, &be) {
		field = be.Field
	}
	if code == berth.ERATELIMITED {
		setRetryAfter(w, err)
	}
	writeJSON(w, HTTPStatus(code), api.Error{Error: code, Message: msg, Field: field})
}

type serverKey struct{}

// decode reads a JSON body into v. Strict decoding rejects unknown fields so
// a typo in a spec is an error, not a silently ignored setting.
func decode(r *http.Request, v any, strict bool) error {
	if r.Body == nil {
		return berth.Invalid("body", "is required")
	}
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return berth.Invalid("body", "must hold one JSON object")
	}
	return nil
}

// decodeOptional reads an optional JSON body into v, strictly: an empty
// (or blank) body leaves v as it is.
func decodeOptional(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return decode(r, v, true)
}

// decodeError names the field at fault where encoding/json tells it.
func decodeError(err error) error {
	var (
		typeErr *json.UnmarshalTypeError
		synErr  *json.SyntaxError
		maxErr  *http.MaxBytesError
	)
	var be *berth.Error
	switch {
	case errors.As(err, &be):
		return be // the body's own reader said what is wrong (deadlineBody)
	case errors.Is(err, io.EOF):
		return berth.Invalid("body", "is required")
	case errors.As(err, &maxErr):
		return berth.Invalid("body", "is larger than %d bytes", maxErr.Limit)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return berth.Invalid(field, "must be a %s, got %s", jsonType(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &synErr):
		return berth.Invalid("body", "is not valid JSON (at byte %d)", synErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return berth.Invalid(f, "is not a known field")
	}
	return berth.Invalid("body", "is not valid JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "whole number"
	case "float32", "float64":
		return "number"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "list"
	}
	return kind
}

// paging parses page (from 1) and pageSize (1 to maxPageSize, default 20).
func paging(r *http.Request) (page, size int, err error) {
	page, size = 1, 20
	if v := r.URL.Query().Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 || page > 1_000_000 {
			return 0, 0, berth.Invalid("page", "must be a whole number from 1, got %q", v)
		}
	}
	if v := r.URL.Query().Get("pageSize"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > maxPageSize {
			return 0, 0, berth.Invalid("pageSize", "must be a whole number from 1 to %d, got %q", maxPageSize, v)
		}
	}
	return page, size, nil
}

const maxPageSize = 200

func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, berth.Invalid(name, "must be true or false, got %q", v)
	}
	return b, nil
}

// querySince accepts an RFC 3339 time or a duration back from now ("5m").
func querySince(r *http.Request, name string, now time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, berth.Invalid(name, "must be an RFC 3339 time or a duration such as 5m, got %q", v)
}

func message(format string, args ...any) string { return fmt.Sprintf(format, args...) }
