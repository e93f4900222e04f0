package wshub

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

func TestParseLogTopic(t *testing.T) {
	t.Parallel()
	ok := []struct {
		topic string
		want  berth.ServiceRef
	}{
		{"logs:web", berth.ServiceRef{Name: "web"}},
		{"logs:team-a/web", berth.ServiceRef{Namespace: "team-a", Name: "web"}},
		{"logs:local:web", berth.ServiceRef{Target: "local", Name: "web"}},
		{"logs:prod:team-a/web", berth.ServiceRef{Target: "prod", Namespace: "team-a", Name: "web"}},
		{"logs:aci-eastus.2:web", berth.ServiceRef{Target: "aci-eastus.2", Name: "web"}},
		{"logs:Prod_EU:web", berth.ServiceRef{Target: "Prod_EU", Name: "web"}},
	}
	for _, tc := range ok {
		got, err := ParseLogTopic(tc.topic)
		if err != nil || got != tc.want {
			t.Errorf("ParseLogTopic(%q) = %+v, %v; want %+v", tc.topic, got, err, tc.want)
		}
	}
	bad := []string{"web", "logs:", "logs:Web", "logs:a/b/c", "logs:/web", "logs::web", "logs:prod:", "logs:a:b:c",
		"logs:prod:team_a/web", "logs:web ", "logs:" + strings.Repeat("x", 64), "logs:" + strings.Repeat("x", 64) + ":web"}
	for _, topic := range bad {
		_, err := ParseLogTopic(topic)
		if !berth.IsCode(err, berth.EINVALID) || !strings.Contains(berth.ErrorMessage(err), LogTopicSyntax) {
			t.Errorf("ParseLogTopic(%q) = %v; want INVALID_REQUEST with the syntax", topic, err)
		}
	}
}
