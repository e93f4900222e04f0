package chat_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/api"
)

// BenchmarkHandle: a grammar-only answer with 1,000 stored services (the
// figures that matter come from make bench-chat, on the real server).
func BenchmarkHandle(b *testing.B) {
	w := newWorld(b)
	ctx := berth.WithActor(context.Background(), admin)
	for i := range 1000 {
		zero := 0
		if _, _, err := w.c.ApplyService(ctx, fmt.Sprintf("svc-%d", i), berth.ServiceSpec{Command: []string{"sleep", "600"}, Replicas: &zero}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.e.Handle(ctx, api.ChatRequest{Message: "status of svc-500"}); err != nil {
			b.Fatal(err)
		}
	}
}
