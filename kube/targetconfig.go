package kube

// TargetConfig is the part of a berth.yaml targets: entry that only
// kubernetes targets read (the fields every adapter shares, such as name,
// region, image and templates, stay with the entry and reach Config through
// base). berth serve embeds it in its target entry.
type TargetConfig struct {
	// A kubeconfig (+ context), or in-cluster when both are empty; the
	// namespaces to watch (empty: all).
	Kubeconfig       string   `json:"kubeconfig"`
	Context          string   `json:"context"`
	Namespaces       []string `json:"namespaces"`
	DefaultNamespace string   `json:"defaultNamespace"`
	// Environments: their namespace (default: defaultNamespace), the
	// vsCodeUrl template ({name}, {namespace}, {id}, {port}; default
	// http://{name}.{namespace}.svc:{port}) and the storage class of their
	// volume claims (empty: the cluster's default).
	EnvironmentNamespace string `json:"environmentNamespace"`
	URLTemplate          string `json:"urlTemplate"`
	StorageClass         string `json:"storageClass"`
	// An Ingress per environment: ingressHost is a host template ({name},
	// {namespace}, {id}, e.g. "{id}.dev.example.com"); ingressClassName
	// (empty: the cluster's default class) and ingressTLSSecret (a TLS
	// Secret in the environment namespace, which makes vsCodeUrl https) are
	// optional. No ingressHost: no Ingress.
	IngressHost      string `json:"ingressHost"`
	IngressClassName string `json:"ingressClassName"`
	IngressTLSSecret string `json:"ingressTLSSecret"`
	// WorkspaceFSGroup is the fsGroup of workspace pods (0: none), so that
	// non-root workspace images can write their volume.
	WorkspaceFSGroup int64 `json:"workspaceFSGroup"`
	// ImagePullSecrets name Secrets berth's services and environments pull
	// their images with; berth does not create them.
	ImagePullSecrets []string `json:"imagePullSecrets"`
}

// Config is base (the shared fields: Target, Region, WorkspaceImage,
// Templates, WorkspacePath, IDEPort, AgentBaseURL) completed with the
// entry's kubernetes fields. New checks the result.
func (t TargetConfig) Config(base Config) Config {
	c := base
	c.Kubeconfig, c.Context = t.Kubeconfig, t.Context
	c.Namespaces, c.DefaultNamespace, c.EnvNamespace = t.Namespaces, t.DefaultNamespace, t.EnvironmentNamespace
	c.URLTemplate, c.StorageClass = t.URLTemplate, t.StorageClass
	c.IngressHost, c.IngressClassName, c.IngressTLSSecret = t.IngressHost, t.IngressClassName, t.IngressTLSSecret
	c.WorkspaceFSGroup, c.ImagePullSecrets = t.WorkspaceFSGroup, t.ImagePullSecrets
	return c
}
