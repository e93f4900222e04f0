package core

import "github.com/berthhq/berth"

// Prices is the price table of a target: the one berth.yaml gives it, else
// the documented default of its provider. Recommendations (monthlySaving)
// and usage (cost) both read it here.
func (c *Core) Prices(target string) berth.Prices {
	if p, ok := c.prices[target]; ok {
		return p
	}
	provider := ""
	if rt, ok := c.runtimes[target]; ok {
		provider = rt.Info().Provider
	}
	return berth.DefaultPrices(provider)
}
