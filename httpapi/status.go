package httpapi

import (
	"net/http"

	"github.com/berthhq/berth"
)

// codeStatus is the one table that maps error codes to HTTP statuses.
var codeStatus = map[berth.Code]int{
	berth.EINVALID:      http.StatusBadRequest,
	berth.EUNAUTHORIZED: http.StatusUnauthorized,
	berth.EFORBIDDEN:    http.StatusForbidden,
	berth.EQUOTA:        http.StatusForbidden,
	berth.ENOTFOUND:     http.StatusNotFound,
	berth.ECONFLICT:     http.StatusConflict,
	berth.ERATELIMITED:  http.StatusTooManyRequests,
	berth.ENOTSUPPORTED: http.StatusNotImplemented,
	berth.EUNAVAILABLE:  http.StatusServiceUnavailable,
	berth.EENVIRONMENT:  http.StatusInternalServerError,
	berth.ESERVICE:      http.StatusInternalServerError,
	berth.EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of an error code (500 for unknown codes).
func HTTPStatus(c berth.Code) int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}
