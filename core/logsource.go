package core

import (
	"fmt"

	"github.com/berthhq/berth"
)

// setLogSources keeps the log sources of Config.LogSources; each must name a
// configured target, so a typo in the configuration fails at start.
func (c *Core) setLogSources(sources map[string]berth.ServiceLogger) error {
	c.logSources = map[string]berth.ServiceLogger{}
	for target, src := range sources {
		if _, ok := c.runtimes[target]; !ok {
			return fmt.Errorf("core: log source for target %q, which is not configured", target)
		}
		if src != nil {
			c.logSources[target] = src
		}
	}
	return nil
}

// serviceLogger is where a target's service logs come from: its log source
// (Loki) when one is configured, else the runtime itself.
func (c *Core) serviceLogger(target string) (berth.ServiceLogger, bool) {
	if src, ok := c.logSources[target]; ok {
		return src, true
	}
	lg, ok := c.runtimes[target].(berth.ServiceLogger)
	return lg, ok
}
