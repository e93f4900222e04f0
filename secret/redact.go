package secret

import (
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/berthhq/berth"
)

// sensitiveKey matches attribute keys whose values are secrets. Keys are
// normalized first (lower case), so "apiKey", "API_KEY" and "sshKey" match.
var sensitiveKey = regexp.MustCompile(`password|passwd|secret|token|apikey|api_key|api-key|authorization|credential|cookie|key$`)

// isSensitiveKey reports whether an attribute key names a secret. Keys that
// name an identifier ("keyId", "key_id", "tokenID") stay readable: an id
// tells which credential was used, which is what logs are for.
func isSensitiveKey(k string) bool {
	k = strings.ToLower(k)
	if strings.HasSuffix(k, "id") || strings.HasSuffix(k, "ids") {
		return false
	}
	return sensitiveKey.MatchString(k)
}

// RedactAttr is a slog.HandlerOptions.ReplaceAttr that replaces the value of
// every attribute whose key (or enclosing group) names a secret with
// berth.Redacted.
func RedactAttr(groups []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		return a // slog calls ReplaceAttr again for each member
	}
	redact := isSensitiveKey(a.Key)
	for _, g := range groups {
		if redact {
			break
		}
		redact = isSensitiveKey(g)
	}
	if redact {
		return slog.String(a.Key, berth.Redacted)
	}
	return a
}

// minSecretLen is the length below which values are not redacted by text:
// replacing every "a" or "on" in logs would destroy them and hide nothing.
const minSecretLen = 4

// Redactor replaces known secret values in text. It is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer
}

// NewRedactor returns a Redactor that knows values.
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	r.Add(values...)
	return r
}

// Add registers secret values; values shorter than 4 bytes are ignored.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		if r.values == nil {
			r.values = make(map[string]struct{})
		}
		if _, ok := r.values[v]; !ok {
			r.values[v] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return
	}
	// Longest first: strings.Replacer tries old strings in argument order,
	// so a secret that contains another is replaced whole.
	vals := make([]string, 0, len(r.values))
	for v := range r.values {
		vals = append(vals, v)
	}
	sort.Slice(vals, func(i, j int) bool {
		if len(vals[i]) != len(vals[j]) {
			return len(vals[i]) > len(vals[j])
		}
		return vals[i] < vals[j]
	})
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, berth.Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact returns s with every known secret value replaced by berth.Redacted.
func (r *Redactor) Redact(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that applies RedactAttr
// and then removes known secret values from string and error values.
func (r *Redactor) ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	a = RedactAttr(groups, a)
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); s != berth.Redacted {
			if red := r.Redact(s); red != s {
				return slog.String(a.Key, red)
			}
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			s := err.Error()
			if red := r.Redact(s); red != s {
				return slog.String(a.Key, red)
			}
		}
	}
	return a
}
