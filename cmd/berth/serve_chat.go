package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berthhq/berth/chat"
	"github.com/berthhq/berth/core"
	"github.com/berthhq/berth/store"
)

// buildChat wires the chat: core as its back-end, the store for confirm
// tokens, and the optional language model from BERTH_LLM_URL,
// BERTH_LLM_MODEL, BERTH_LLM_API_KEY and BERTH_LLM_ANONYMIZE (the key is
// never logged). BERTH_CHAT_CONFIRM_TTL shortens the confirm step's 5
// minutes (tests).
func buildChat(b *base, c *core.Core, st *store.Store, usage core.UsageSource) (*chat.Engine, error) {
	cfg := chat.Config{Backend: c, Confirms: st, Usage: usage, Logger: b.logger.With("component", "chat")}
	if v := b.getenv("BERTH_CHAT_CONFIRM_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("BERTH_CHAT_CONFIRM_TTL: %q is not a positive duration (e.g. 5m)", v)
		}
		cfg.ConfirmTTL = d
	}
	if url := b.getenv("BERTH_LLM_URL"); url != "" {
		anon := false
		if v := b.getenv("BERTH_LLM_ANONYMIZE"); v != "" {
			var err error
			if anon, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("BERTH_LLM_ANONYMIZE: %q is not true or false", v)
			}
		}
		cfg.LLM = &chat.LLM{URL: url, Model: b.getenv("BERTH_LLM_MODEL"), APIKey: b.getenv("BERTH_LLM_API_KEY"),
			Anonymize: anon, Client: &http.Client{Timeout: 10 * time.Second}, Logger: cfg.Logger}
		b.logger.Info("chat: free text the grammar cannot place goes to a language model", "url", chat.Redact(url), "anonymize", anon)
	}
	return chat.New(cfg), nil
}
