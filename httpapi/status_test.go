package httpapi

import (
	"testing"

	"github.com/berthhq/berth"
)

// TestHTTPStatus: every code has its status, and an unknown code is a 500.
func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	want := map[berth.Code]int{berth.EINVALID: 400, berth.EUNAUTHORIZED: 401, berth.EFORBIDDEN: 403, berth.ENOTFOUND: 404,
		berth.ECONFLICT: 409, berth.ERATELIMITED: 429, berth.ENOTSUPPORTED: 501, berth.EUNAVAILABLE: 503,
		berth.EENVIRONMENT: 500, berth.ESERVICE: 500, berth.EINTERNAL: 500, berth.Code("NO_SUCH_CODE"): 500}
	for c, s := range want {
		if got := HTTPStatus(c); got != s {
			t.Errorf("%s → %d, want %d", c, got, s)
		}
	}
	for _, c := range berth.Codes() {
		if _, ok := codeStatus[c]; !ok {
			t.Errorf("code %s has no HTTP status", c)
		}
	}
}
