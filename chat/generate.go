package chat

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/berthhq/berth"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Placeholder stands for a secret the user sets before (or after) applying:
// the generator never makes up a password it would then show in a chat.
const Placeholder = "CHANGE_ME"

// generator is what berth knows of running one common image.
type generator struct {
	image, version string
	ports          []berth.Port
	health         berth.HealthCheck
	cpu, memory    string
	env            map[string]string
	secrets        []string
	// local is the command for a local target (a process on berth's host,
	// which gives each replica $PORT); {MAJOR} is the major version where
	// a path needs it.
	local string
}

var generators = map[string]generator{
	"redis": {image: "redis", version: "7", ports: []berth.Port{{Name: "redis", Port: 6379}}, health: berth.HealthCheck{TCP: true},
		cpu: "100m", memory: "256Mi",
		local: `exec redis-server --port "$PORT" --bind 127.0.0.1 --save ''`},
	"postgres": {image: "postgres", version: "16", ports: []berth.Port{{Name: "postgres", Port: 5432}}, health: berth.HealthCheck{TCP: true},
		cpu: "250m", memory: "512Mi", env: map[string]string{"POSTGRES_USER": "app", "POSTGRES_DB": "app"}, secrets: []string{"POSTGRES_PASSWORD"},
		local: `test -s data/PG_VERSION || { printf '%s' "$POSTGRES_PASSWORD" > .pw && /usr/lib/postgresql/{MAJOR}/bin/initdb -D data -U "$POSTGRES_USER" --pwfile=.pw && rm -f .pw; }; ` +
			`exec /usr/lib/postgresql/{MAJOR}/bin/postgres -D data -p "$PORT" -k "$PWD" -c listen_addresses=127.0.0.1`},
	"mysql": {image: "mysql", version: "8.4", ports: []berth.Port{{Name: "mysql", Port: 3306}}, health: berth.HealthCheck{TCP: true},
		cpu: "250m", memory: "1Gi", env: map[string]string{"MYSQL_DATABASE": "app", "MYSQL_USER": "app"}, secrets: []string{"MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"},
		local: `test -d data/mysql || mysqld --initialize-insecure --datadir="$PWD/data"; ` +
			`exec mysqld --datadir="$PWD/data" --port="$PORT" --bind-address=127.0.0.1 --socket="$PWD/mysql.sock"`},
	"mongodb": {image: "mongo", version: "7", ports: []berth.Port{{Name: "mongodb", Port: 27017}}, health: berth.HealthCheck{TCP: true},
		cpu: "250m", memory: "512Mi", env: map[string]string{"MONGO_INITDB_ROOT_USERNAME": "admin"}, secrets: []string{"MONGO_INITDB_ROOT_PASSWORD"},
		local: `mkdir -p data && exec mongod --dbpath data --port "$PORT" --bind_ip 127.0.0.1`},
	"rabbitmq": {image: "rabbitmq", version: "3.13-management", ports: []berth.Port{{Name: "amqp", Port: 5672}, {Name: "management", Port: 15672}},
		health: berth.HealthCheck{TCP: true, Port: "amqp"}, cpu: "250m", memory: "512Mi",
		env: map[string]string{"RABBITMQ_DEFAULT_USER": "app"}, secrets: []string{"RABBITMQ_DEFAULT_PASS"},
		local: `RABBITMQ_NODE_PORT="$PORT" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 exec rabbitmq-server`},
	"nginx": {image: "nginx", version: "1.27", ports: []berth.Port{{Name: "http", Port: 80}}, health: berth.HealthCheck{HTTP: "/", Port: "http"},
		cpu: "100m", memory: "128Mi",
		local: `printf 'events {}\nhttp { server { listen 127.0.0.1:%s; location / { return 200 "ok\\n"; } } }\n' "$PORT" > nginx.conf && ` +
			`exec nginx -p "$PWD" -c "$PWD/nginx.conf" -g 'daemon off; pid nginx.pid; error_log stderr;'`},
	"memcached": {image: "memcached", version: "1.6", ports: []berth.Port{{Name: "memcached", Port: 11211}}, health: berth.HealthCheck{TCP: true},
		cpu: "100m", memory: "128Mi",
		local: `exec memcached -p "$PORT" -l 127.0.0.1`},
}

var imageAliases = map[string]string{"postgresql": "postgres", "pg": "postgres", "psql": "postgres", "mongo": "mongodb",
	"rabbit": "rabbitmq", "memcache": "memcached", "mariadb": "mysql", "valkey": "redis"}

func imageNames() []string {
	out := make([]string, 0, len(generators))
	for k := range generators {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Generated is a spec the chat wrote, to show and (on "apply it") to create.
type Generated struct {
	Name string            `json:"name"`
	Spec berth.ServiceSpec `json:"spec"`
}

// generate writes the spec of image for a target of provider.
func generate(image, version, memory, name string, target berth.TargetInfo) (*Generated, error) {
	g, ok := generators[image]
	if !ok {
		return nil, berth.Invalid("image", "berth writes specs for %s, not %q", strings.Join(imageNames(), ", "), image)
	}
	if version == "" {
		version = g.version
	}
	if name == "" {
		name = image
	}
	if memory == "" {
		memory = g.memory
	}
	if _, err := resource.ParseQuantity(memory); err != nil {
		return nil, berth.Invalid("memory", "%q is not a quantity such as 512Mi or 2Gi", memory)
	}
	replicas := 1
	spec := berth.ServiceSpec{Target: target.Name, Replicas: &replicas, Ports: append([]berth.Port(nil), g.ports...),
		Resources: berth.Resources{CPU: g.cpu, Memory: memory}}
	hc := g.health
	spec.HealthCheck = &hc
	if len(g.env) > 0 {
		spec.Env = map[string]string{}
		for k, v := range g.env {
			spec.Env[k] = v
		}
	}
	if len(g.secrets) > 0 {
		spec.Secrets = map[string]string{}
		for _, k := range g.secrets {
			spec.Secrets[k] = Placeholder
		}
	}
	if target.Provider == berth.ProviderLocal {
		major, _, _ := strings.Cut(version, ".")
		spec.Command = []string{"sh", "-c", strings.ReplaceAll(g.local, "{MAJOR}", major)}
	} else {
		spec.Image = g.image + ":" + version
	}
	return &Generated{Name: name, Spec: spec}, nil
}

// specYAML is the spec as `berth svc apply -f` and PUT /api/v1/services/{name}
// (once read as JSON) take it, empty parts left out.
func specYAML(gen *Generated) (string, error) {
	b, err := json.Marshal(gen.Spec)
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	for k, v := range m {
		if mv, ok := v.(map[string]any); ok && len(mv) == 0 {
			delete(m, k)
		}
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		return "", err
	}
	head := fmt.Sprintf("# %s: PUT /api/v1/services/%s with this spec, or berth svc apply -f %s.yaml --name %s\n", gen.Name, gen.Name, gen.Name, gen.Name)
	if len(gen.Spec.Secrets) > 0 {
		head += "# Set the secrets (" + Placeholder + ") before applying, or update them after.\n"
	}
	return head + string(y), nil
}

// manifests are the Kubernetes objects equivalent to the spec: a Secret
// (placeholders), a Deployment and a Service.
func manifests(gen *Generated, namespace string) (string, error) {
	s := gen.Spec
	labels := map[string]string{"app.kubernetes.io/name": gen.Name}
	meta := metav1.ObjectMeta{Name: gen.Name, Namespace: namespace, Labels: labels}
	c := corev1.Container{Name: gen.Name, Image: s.Image, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	if s.Resources.CPU != "" {
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(s.Resources.CPU)
	}
	if s.Resources.Memory != "" {
		q := resource.MustParse(s.Resources.Memory)
		c.Resources.Requests[corev1.ResourceMemory] = q
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: q}
	}
	for _, k := range sortedKeys(s.Env) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	for _, k := range sortedKeys(s.Secrets) {
		c.Env = append(c.Env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: gen.Name}, Key: k}}})
	}
	svc := corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta,
		Spec: corev1.ServiceSpec{Selector: labels}}
	for _, p := range s.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Port)})                                           // #nosec G115 -- ports come from the table above (< 65536)
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: int32(p.Port), TargetPort: intstr.FromString(p.Name)}) // #nosec G115 -- as above
	}
	if hc := s.HealthCheck; hc != nil && len(s.Ports) > 0 {
		port := intstr.FromString(s.Ports[0].Name)
		if hc.Port != "" {
			port = intstr.FromString(hc.Port)
		}
		probe := &corev1.Probe{PeriodSeconds: 10}
		if hc.HTTP != "" {
			probe.HTTPGet = &corev1.HTTPGetAction{Path: hc.HTTP, Port: port}
		} else {
			probe.TCPSocket = &corev1.TCPSocketAction{Port: port}
		}
		c.ReadinessProbe = probe
	}
	replicas := int32(s.ReplicaCount()) // #nosec G115 -- generated specs ask for one replica
	dep := appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}}
	var docs []any
	if len(s.Secrets) > 0 {
		sec := corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta, StringData: map[string]string{}}
		for k := range s.Secrets {
			sec.StringData[k] = Placeholder
		}
		docs = append(docs, sec)
	}
	docs = append(docs, dep, svc)
	var out []string
	for _, d := range docs {
		y, err := yaml.Marshal(d)
		if err != nil {
			return "", err
		}
		out = append(out, cleanManifest(string(y)))
	}
	return strings.Join(out, "---\n"), nil
}

// cleanManifest drops the empty status and creationTimestamp the API types
// always carry.
func cleanManifest(y string) string {
	var keep []string
	for _, l := range strings.Split(y, "\n") {
		t := strings.TrimSpace(l)
		if t == "creationTimestamp: null" || t == "status: {}" || t == "strategy: {}" || t == "resources: {}" ||
			t == "loadBalancer: {}" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
