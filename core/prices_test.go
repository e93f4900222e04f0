package core

import (
	"testing"

	"github.com/berthhq/berth"
)

// TestPrices: a target's configured table wins; others get their
// provider's documented default.
func TestPrices(t *testing.T) {
	eur := berth.Prices{Currency: "EUR", CPUCoreHour: 1, MemoryGBHour: 2, StorageGBMonth: 3}
	c := &Core{
		runtimes: map[string]berth.Runtime{},
		prices:   map[string]berth.Prices{"priced": eur},
	}
	if got := c.Prices("priced"); got != eur {
		t.Errorf("Prices(priced) = %+v, want %+v", got, eur)
	}
	if got, want := c.Prices("unknown"), berth.DefaultPrices(""); got != want {
		t.Errorf("Prices(unknown) = %+v, want the default %+v", got, want)
	}
}
