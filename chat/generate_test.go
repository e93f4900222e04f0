package chat

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestGenerate: every image the generator knows makes a spec berth's own
// validation accepts on a local and on a Kubernetes target (ports, a health
// check, resources, secrets as placeholders), whose YAML reads back as the
// same spec, strictly; for Kubernetes the manifests are a Secret, a
// Deployment and a Service that decode into the API types.
func TestGenerate(t *testing.T) {
	local := berth.TargetInfo{Name: "local", Provider: berth.ProviderLocal}
	kube := berth.TargetInfo{Name: "kube", Provider: berth.ProviderKubernetes, DefaultNamespace: "apps"}
	for _, image := range imageNames() {
		for _, ti := range []berth.TargetInfo{local, kube} {
			gen, err := generate(image, "", "", "", ti)
			if err != nil {
				t.Fatalf("%s on %s: %v", image, ti.Name, err)
			}
			spec := gen.Spec
			run := spec
			if err := berth.ValidateServiceSpec(gen.Name, &run, ti.Provider, 50); err != nil {
				t.Errorf("%s on %s: berth refuses the spec: %v", image, ti.Name, err)
			}
			if len(spec.Ports) == 0 || spec.HealthCheck == nil || spec.Resources.CPU == "" || spec.Resources.Memory == "" {
				t.Errorf("%s on %s: ports, health check or resources missing: %+v", image, ti.Name, spec)
			}
			for k, v := range spec.Secrets {
				if v != Placeholder {
					t.Errorf("%s: secret %s = %q, want the placeholder", image, k, v)
				}
			}
			if (ti.Provider == berth.ProviderLocal) != (len(spec.Command) > 0 && spec.Image == "") {
				t.Errorf("%s on %s: command %v image %q", image, ti.Name, spec.Command, spec.Image)
			}
			y, err := specYAML(gen)
			if err != nil {
				t.Fatal(err)
			}
			js, err := yaml.YAMLToJSON([]byte(y))
			if err != nil {
				t.Fatal(err)
			}
			var back berth.ServiceSpec
			dec := json.NewDecoder(strings.NewReader(string(js)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&back); err != nil {
				t.Fatalf("%s: YAML does not read back: %v\n%s", image, err, y)
			}
			if a, b := mustJSON(back), mustJSON(spec); a != b {
				t.Errorf("%s: YAML reads back as %s, want %s", image, a, b)
			}
			if ti.Provider != berth.ProviderKubernetes {
				continue
			}
			m, err := manifests(gen, "apps")
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]bool{}
			for _, doc := range strings.Split(m, "---\n") {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
					t.Fatalf("%s manifest: %v\n%s", image, err, doc)
				}
				kinds[meta.Kind] = true
				switch meta.Kind {
				case "Deployment":
					var d appsv1.Deployment
					if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
						t.Fatalf("%s Deployment: %v", image, err)
					}
					c := d.Spec.Template.Spec.Containers[0]
					if d.Namespace != "apps" || c.Image != spec.Image || c.ReadinessProbe == nil || len(c.Ports) != len(spec.Ports) {
						t.Errorf("%s Deployment: %+v", image, c)
					}
				case "Service":
					var s corev1.Service
					if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil || len(s.Spec.Ports) != len(spec.Ports) {
						t.Errorf("%s Service: %v %+v", image, err, s.Spec)
					}
				}
			}
			if !kinds["Deployment"] || !kinds["Service"] || kinds["Secret"] != (len(spec.Secrets) > 0) {
				t.Errorf("%s manifests: kinds %v", image, kinds)
			}
		}
	}
	if _, err := generate("postgres", "16", "lots", "", local); !berth.IsCode(err, berth.EINVALID) {
		t.Errorf("bad memory: %v", err)
	}
	if g, _ := generate("postgres", "15", "2Gi", "db", kube); g.Spec.Image != "postgres:15" || g.Spec.Resources.Memory != "2Gi" || g.Name != "db" {
		t.Errorf("postgres 15 with 2Gi named db: %+v", g)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
