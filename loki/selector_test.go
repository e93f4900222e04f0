package loki

import (
	"strings"
	"testing"

	"github.com/berthhq/berth"
)

func TestSelector(t *testing.T) {
	t.Parallel()
	c, err := New("http://user:secret@127.0.0.1:3100/loki-base/")
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "http://127.0.0.1:3100/loki-base" {
		t.Fatalf("URL() = %q: credentials must not show", c.URL())
	}
	tests := []struct {
		template string
		ref      berth.ServiceRef
		opts     berth.LogOptions
		want     string // query, or the start of the error
	}{
		{"", berth.ServiceRef{Target: "local", Name: "web"}, berth.LogOptions{}, `{service_name="web"}`},
		{SelectorKubernetes, berth.ServiceRef{Target: "k8s", Namespace: "shop", Name: "web"}, berth.LogOptions{}, `{namespace="shop", app="web"}`},
		{`{cluster="{target}", job="{namespace}/{name}"}`, berth.ServiceRef{Target: "k8s", Namespace: `a"b\c`, Name: "web"}, berth.LogOptions{},
			`{cluster="k8s", job="a\"b\\c/web"}`},
		{"", berth.ServiceRef{Name: "web"}, berth.LogOptions{Replica: `web-0"`, Container: "main"},
			`{service_name="web"} | pod="web-0\"" or instance="web-0\"" or replica="web-0\"" | container="main"`},
		{`{app="{nmae}"}`, berth.ServiceRef{}, berth.LogOptions{}, "error: loki selector"},
		{`{env="prod"}`, berth.ServiceRef{}, berth.LogOptions{}, "error: loki selector"},
		{`service_name="{name}"`, berth.ServiceRef{}, berth.LogOptions{}, "error: loki selector"},
	}
	for _, tt := range tests {
		t.Run(tt.template+tt.want, func(t *testing.T) {
			s, err := NewSource(c, SourceConfig{Selector: tt.template})
			if err != nil {
				if !strings.HasPrefix("error: "+err.Error(), tt.want) {
					t.Fatalf("error %v, want %s", err, tt.want)
				}
				return
			}
			if got := s.query(tt.ref, tt.opts); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := New("ftp://loki"); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if _, err := New("http://u:pw@[::1"); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestDefaultSelector(t *testing.T) {
	t.Parallel()
	for provider, want := range map[string]string{
		berth.ProviderLocal: SelectorByServiceName, berth.ProviderKubernetes: SelectorKubernetes, berth.ProviderAzure: SelectorByServiceName,
	} {
		if got := DefaultSelector(provider); got != want {
			t.Errorf("%s: %s, want %s", provider, got, want)
		}
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	c, _ := New("http://127.0.0.1:3100")
	got, err := Sources(c, []berth.TargetInfo{{Name: "local", Provider: berth.ProviderLocal}, {Name: "k8s", Provider: berth.ProviderKubernetes}, {Name: "k8s-2", Provider: berth.ProviderKubernetes}},
		map[string]string{"k8s-2": `{cluster="two", app="{name}"}`})
	if err != nil {
		t.Fatal(err)
	}
	ref := berth.ServiceRef{Namespace: "ns", Name: "web"}
	for target, want := range map[string]string{"local": `{service_name="web"}`, "k8s": `{namespace="ns", app="web"}`, "k8s-2": `{cluster="two", app="web"}`} {
		if q := got[target].(*Source).Selector(ref); q != want {
			t.Errorf("%s: %s, want %s", target, q, want)
		}
	}
	if _, err := Sources(c, []berth.TargetInfo{{Name: "x"}}, map[string]string{"x": "{app=\"{id}\"}"}); err == nil || !strings.Contains(err.Error(), "target x") {
		t.Fatalf("bad selector: %v", err)
	}
}
