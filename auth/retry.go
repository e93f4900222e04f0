package auth

import (
	"fmt"
	"math"
	"time"

	"github.com/berthhq/berth"
)

// RetryAfter is the cause of a RATE_LIMITED error: how long the client
// should wait, for the Retry-After header.
type RetryAfter time.Duration

func (r RetryAfter) Error() string { return fmt.Sprintf("retry after %s", time.Duration(r)) }

// Seconds is the whole number of seconds to wait, at least 1.
func (r RetryAfter) Seconds() int {
	return max(1, int(math.Ceil(time.Duration(r).Seconds())))
}

// Limited returns a RATE_LIMITED error with message msg that carries wait
// as its RetryAfter.
func Limited(wait time.Duration, format string, args ...any) error {
	ra := RetryAfter(wait)
	return &berth.Error{Code: berth.ERATELIMITED, Message: fmt.Sprintf(format, args...) +
		fmt.Sprintf(": try again in %ds", ra.Seconds()), Err: ra}
}
