package berth

import (
	"math"
	"strings"
	"testing"
)

func TestPricesValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Prices
		want string // "" = valid
	}{
		{"defaults", DefaultPrices("LOCAL"), ""},
		{"azure", DefaultPrices("AZURE"), ""},
		{"negative", Prices{Currency: "EUR", CPUCoreHour: -1}, "prices.cpuCoreHour"},
		{"nan", Prices{Currency: "EUR", MemoryGBHour: math.NaN()}, "prices.memoryGBHour"},
		{"currency", Prices{Currency: "euro"}, "prices.currency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate("prices")
			if tc.want == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestPricesCost(t *testing.T) {
	p := Prices{Currency: "USD", CPUCoreHour: 0.04, MemoryGBHour: 0.005, StorageGBMonth: 0.073}
	// 2 cores, 4 GiB, 10 GiB kept for a month: 730 h × (0.08 + 0.02) + 0.73.
	got := p.Cost(2, 4, 10, HoursPerMonth)
	if want := 73.73; math.Abs(got-want) > 1e-9 {
		t.Fatalf("Cost = %v, want %v", got, want)
	}
}
