package berth

import (
	"fmt"
	"math"
)

// Prices is what a target's resources cost. One table per target (berth.yaml
// `targets[].prices`) feeds both the recommendations' monthlySaving and the
// usage report's cost, so the two never disagree.
type Prices struct {
	Currency string `json:"currency"`
	// CPUCoreHour is the price of one vCPU (core) for an hour.
	CPUCoreHour float64 `json:"cpuCoreHour"`
	// MemoryGBHour is the price of one GiB of memory for an hour.
	MemoryGBHour float64 `json:"memoryGBHour"`
	// StorageGBMonth is the price of one GiB of storage kept for a month
	// (HoursPerMonth hours).
	StorageGBMonth float64 `json:"storageGBMonth"`
}

// HoursPerMonth is the month prices and savings are computed over: 730 h
// (365 × 24 / 12), as cloud price lists use.
const HoursPerMonth = 730.0

// DefaultPrices are the documented defaults by provider (docs/prices.md
// names their sources):
//   - LOCAL and KUBERNETES: OpenCost's default custom pricing
//     (configs/default.json: CPU 0.031611 per vCPU-hour, RAM 0.004237 per
//     GB-hour, storage 0.00005479452 per GB-hour = 0.04 per GB-month).
//   - AZURE: Azure Container Instances' pay-as-you-go Linux prices
//     (0.0000113 per vCPU-second = 0.04068 per vCPU-hour, 0.0000012 per
//     GB-second = 0.00432 per GB-hour) and Azure Files transaction-optimised
//     LRS storage at 0.06 per GB-month.
func DefaultPrices(provider string) Prices {
	switch provider {
	case "AZURE":
		return Prices{Currency: "USD", CPUCoreHour: 0.04068, MemoryGBHour: 0.00432, StorageGBMonth: 0.06}
	default:
		return Prices{Currency: "USD", CPUCoreHour: 0.031611, MemoryGBHour: 0.004237, StorageGBMonth: 0.04}
	}
}

// Validate checks a price table from berth.yaml; field names its place.
func (p Prices) Validate(field string) error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"cpuCoreHour", p.CPUCoreHour}, {"memoryGBHour", p.MemoryGBHour}, {"storageGBMonth", p.StorageGBMonth}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return Errorf(EINVALID, "%s.%s: %v is not a price (a number ≥ 0)", field, f.name, f.v)
		}
	}
	if p.Currency == "" || len(p.Currency) != 3 {
		return Errorf(EINVALID, "%s.currency: %q is not a three-letter currency code", field, p.Currency)
	}
	return nil
}

// Cost is the price of using cpuCores cores and memoryGB GiB for hours, and
// keeping storageGB GiB for those hours.
func (p Prices) Cost(cpuCores, memoryGB, storageGB, hours float64) float64 {
	return hours * (cpuCores*p.CPUCoreHour + memoryGB*p.MemoryGBHour + storageGB*p.StorageGBMonth/HoursPerMonth)
}

// String is the table as one line, for logs.
func (p Prices) String() string {
	return fmt.Sprintf("%s %.6g/core-h %.6g/GB-h %.6g/GB-month", p.Currency, p.CPUCoreHour, p.MemoryGBHour, p.StorageGBMonth)
}
