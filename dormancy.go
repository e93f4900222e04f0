package berth

import (
	"strconv"
	"strings"
	"time"
)

// DefaultDormantAfter is how long an environment stays stopped before it
// becomes dormant, unless berth.yaml says otherwise (dormantAfter).
const DefaultDormantAfter = 30 * 24 * time.Hour

// maxLongDuration bounds ttl and the dormancy settings (ten years).
const maxLongDuration = 10 * 365 * 24 * time.Hour

// ParseLongDuration parses a duration that may be given in days ("30d")
// or as Go writes it ("72h", "90m"); it must be positive and at most ten
// years. field names the setting in the error.
func ParseLongDuration(field, v string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 {
			return 0, Invalid(field, "%q is not a number of days between 1 and 3650 (e.g. 30d)", v)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, Invalid(field, "%q is not a duration (e.g. 30d, 72h)", v)
		}
	}
	if d <= 0 || d > maxLongDuration {
		return 0, Invalid(field, "%q must be positive and at most ten years", v)
	}
	return d, nil
}
