package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// applyCondition reads the preconditions of a change to a service:
// If-Match: "N" (the service's revision field, quoted as an entity tag),
// If-Match: * (it exists) or, for PUT /services/{name} only, If-None-Match:
// * (it does not exist yet).
func applyCondition(r *http.Request) (core.ApplyCondition, error) {
	var c core.ApplyCondition
	match, hasMatch := header(r, "If-Match")
	none, hasNone := header(r, "If-None-Match")
	switch {
	case hasMatch && hasNone:
		return c, berth.Invalid("If-None-Match", "cannot be sent with If-Match: send If-Match: \"<revision>\" to update that revision, or If-None-Match: * to create")
	case hasNone && none != "*":
		return c, berth.Invalid("If-None-Match", "must be *, to create the service only when it does not exist yet (got %q)", none)
	case hasNone:
		c.Absent = true
	case hasMatch && match == "*":
		c.Exists = true
	case hasMatch:
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(match, `"`), `"`))
		if err != nil || n < 1 || !strings.HasPrefix(match, `"`) || !strings.HasSuffix(match, `"`) || len(match) < 3 {
			return c, berth.Invalid("If-Match", "must be one revision number in quotes, as in If-Match: \"3\" (the service's revision field), or * (got %q)", match)
		}
		c.Revision = n
	}
	return c, nil
}

// header is r's header name, trimmed, and whether it was sent (an empty
// value counts as sent: it is a malformed precondition, not none).
func header(r *http.Request, name string) (string, bool) {
	v, ok := r.Header[name]
	if !ok {
		return "", false
	}
	return strings.TrimSpace(strings.Join(v, ",")), true
}

// unevaluatedCondition refuses If-Match and If-None-Match on a change that
// does not evaluate them: a client that sent one counts on it, and going
// ahead without it would be the lost update it guards against.
func unevaluatedCondition(r *http.Request, rt route) error {
	if rt.conditional || rt.proxy || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	for _, h := range []string{"If-Match", "If-None-Match"} {
		if _, ok := r.Header[h]; ok {
			return berth.Invalid(h, "is not evaluated by %s %s: only the changes of a service (/api/v1/services/{name}...) take a precondition; nothing was changed", rt.method, rt.path)
		}
	}
	return nil
}
