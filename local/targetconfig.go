package local

import (
	"fmt"
	"strconv"
	"strings"
)

// TargetConfig is the part of a berth.yaml targets: entry that only local
// targets read. berth serve embeds it in its target entry.
type TargetConfig struct {
	// UIDRange is the uids its users' workloads run as when berth runs as
	// root, "MIN-MAX" (default DefaultUIDMin-DefaultUIDMax).
	UIDRange string `json:"uidRange"`
	// WorkloadDir is where its workloads' directories are (default: chosen
	// by berth serve, <workloadDir>/<name>).
	WorkloadDir string `json:"workloadDir"`
}

// Config is base completed with the entry's fields (an empty WorkloadDir
// keeps base's); an error names the field.
func (t TargetConfig) Config(base Config) (Config, error) {
	c := base
	lo, hi, err := parseUIDRange(t.UIDRange)
	if err != nil {
		return Config{}, err
	}
	c.UIDMin, c.UIDMax = lo, hi
	if t.WorkloadDir != "" {
		c.WorkloadDir = t.WorkloadDir
	}
	return c, nil
}

// parseUIDRange reads "MIN-MAX"; empty is the runtime's default.
func parseUIDRange(v string) (lo, hi uint32, err error) {
	if v == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(v, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || l < 1000 || h < l || h >= 1<<31 {
		return 0, 0, fmt.Errorf("uidRange: %q is not MIN-MAX with 1000 <= MIN <= MAX < 2147483648", v)
	}
	return uint32(l), uint32(h), nil
}
