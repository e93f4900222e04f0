package client

import (
	"context"

	"github.com/berthhq/berth/api"
)

// Chat sends a message (with the context of the previous answer) or, with
// req.Confirm, confirms the action an earlier answer proposed.
func (c *Client) Chat(ctx context.Context, req api.ChatRequest) (*api.ChatResponse, error) {
	var out api.ChatResponse
	if err := c.do(ctx, "POST", "/api/v1/chat", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
