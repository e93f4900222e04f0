package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseNoFile lifts RLIMIT_NOFILE so that clients connections (and as
// many server-side ones) fit, up to the hard limit (raised too when root).
func raiseNoFile(clients int) error {
	want := uint64(clients) + 1024 // #nosec G115 -- clients is a positive count (checked when parsed)
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("read the file-descriptor limit: %w", err)
	}
	if l.Cur >= want {
		return nil
	}
	if l.Max < want {
		l.Max = want // only root may; the error below says so otherwise
	}
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("raise the file-descriptor limit to %d for %d clients: %w", want, clients, err)
	}
	return nil
}

// cpuTicks is utime+stime of pid ("self" for this process) in clock ticks
// (100 per second on Linux).
func cpuTicks(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat") // #nosec G304 -- /proc of this process or its server child
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// statusMB is a "kB" line of /proc/<pid>/status (VmHWM, VmRSS) in MB.
func statusMB(pid, field string) float64 {
	b, _ := os.ReadFile("/proc/" + pid + "/status") // #nosec G304 -- /proc of the server child
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// loadAvg is the 1-minute load average.
func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// runDelay is the time pid's threads have waited on a run queue for a CPU
// (the second field of each /proc/<pid>/task/*/schedstat), in ms: on a
// loaded machine, how long the process was ready to run but not running.
func runDelay(pid string) float64 {
	tasks, _ := os.ReadDir("/proc/" + pid + "/task")
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/schedstat") // #nosec G304 -- /proc of the server child
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			ns += v
		}
	}
	return float64(ns) / 1e6
}
