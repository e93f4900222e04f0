package main

import (
	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// dormancy parses dormantAfter, deleteDormantAfter and deleteDormantVolumes
// ("30d" or a Go duration); an error names the setting.
func (cfg *serverConfig) dormancy() (core.DormancyConfig, error) {
	d := core.DormancyConfig{After: berth.DefaultDormantAfter, DeleteVolume: cfg.DeleteDormantVolumes}
	var err error
	if cfg.DormantAfter != "" {
		if d.After, err = berth.ParseLongDuration("dormantAfter", cfg.DormantAfter); err != nil {
			return d, err
		}
	}
	if cfg.DeleteDormantAfter != "" {
		if d.DeleteAfter, err = berth.ParseLongDuration("deleteDormantAfter", cfg.DeleteDormantAfter); err != nil {
			return d, err
		}
	}
	return d, nil
}
