package main

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from memoryLimit
// (berth.yaml or BERTH_MEMORY_LIMIT) unless GOMEMLIMIT already set one.
func applyMemoryLimit(cfg *serverConfig, getenv func(string) string, logger *slog.Logger) error {
	if cfg.MemoryLimit == "" {
		return nil
	}
	n, err := parseBytes(cfg.MemoryLimit)
	if err != nil {
		return fmt.Errorf("memoryLimit: %w", err)
	}
	if getenv("GOMEMLIMIT") != "" {
		logger.Info("memoryLimit ignored: GOMEMLIMIT is set", "gomemlimit", debug.SetMemoryLimit(-1))
		return nil
	}
	debug.SetMemoryLimit(n)
	logger.Info("Go memory limit set", "bytes", n)
	return nil
}

// parseBytes reads a size as GOMEMLIMIT does: an integer with an optional
// B, KiB, MiB, GiB or TiB suffix.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size like 512MiB or 2GiB", s)
	}
	return n * mult, nil
}
