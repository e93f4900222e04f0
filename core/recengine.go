package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/recommend"
)

// ExternalEngine is an AI engine (the seed's AI_ENGINE_URL) berth POSTs a
// snapshot to on each refresh; it answers recommendations in berth's own
// schema, which berth validates before storing them (source "ai-engine").
// The snapshot schema is docs/recommendations.md's.
type ExternalEngine struct {
	URL     string
	Timeout time.Duration // default 10s
	MaxBody int64         // answer bound, default 1 MiB
	Client  *http.Client  // nil: a client that follows no redirect
}

// DisplayURL is the URL without credentials or query, for status and logs.
func (e *ExternalEngine) DisplayURL() string {
	u, err := url.Parse(e.URL)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// maxEngineRecs bounds what one answer may add.
const maxEngineRecs = 1000

// EngineSnapshot is what berth sends: never a secret (no env values,
// secrets, config files or commands, no user names or emails).
type EngineSnapshot struct {
	Version      int                       `json:"version"`
	GeneratedAt  time.Time                 `json:"generatedAt"`
	Window       string                    `json:"window"`
	Kinds        []berth.RecKind           `json:"kinds"`
	Services     []EngineService           `json:"services"`
	Environments []EngineEnvironment       `json:"environments"`
	Orphans      []EngineOrphan            `json:"orphans"`
	Alerts       []EngineAlert             `json:"alerts"`
	Prices       map[string]berth.Prices   `json:"prices"`
	Targets      map[string]string         `json:"targets"` // name → provider
	Limits       map[string]map[string]int `json:"limits"`
}

// EngineService is a service in the snapshot.
type EngineService struct {
	Target    string              `json:"target"`
	Namespace string              `json:"namespace,omitempty"`
	Name      string              `json:"name"`
	Managed   bool                `json:"managed"`
	Status    string              `json:"status"`
	Replicas  int                 `json:"replicas"`
	Revision  int                 `json:"revision"`
	Stopped   bool                `json:"stopped"`
	Spec      EngineSpec          `json:"spec"`
	Usage     EngineServiceUsage  `json:"usage"`
	Instances []EngineReplicaInfo `json:"instances,omitempty"`
}

// EngineSpec is the part of a spec an engine may see.
type EngineSpec struct {
	Image     string          `json:"image,omitempty"`
	Template  string          `json:"template,omitempty"`
	Replicas  int             `json:"replicas"`
	Resources berth.Resources `json:"resources"`
	Ports     []berth.Port    `json:"ports,omitempty"`
}

// EngineServiceUsage summarises a service's per-replica usage over the window.
type EngineServiceUsage struct {
	Samples int              `json:"samples"`
	CPU     berth.UsageStats `json:"cpu"`    // cores
	Memory  berth.UsageStats `json:"memory"` // bytes
}

// EngineReplicaInfo is a replica's restarts and last exit.
type EngineReplicaInfo struct {
	Name     string `json:"name"`
	Ready    bool   `json:"ready"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"lastExit,omitempty"`
}

// EngineEnvironment is an environment in the snapshot (no owner identity).
type EngineEnvironment struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Target          string    `json:"target"`
	Status          string    `json:"status"`
	CPUCores        int       `json:"cpuCores"`
	MemoryGB        int       `json:"memoryGB"`
	StorageGB       int       `json:"storageGB"`
	AutoStopMinutes int       `json:"autoStopMinutes,omitempty"`
	LastAccessedAt  time.Time `json:"lastAccessedAt"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

// EngineOrphan is an orphaned inventory item.
type EngineOrphan struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Target    string `json:"target"`
	Namespace string `json:"namespace,omitempty"`
}

// EngineAlert is a service or environment not running as it should.
type EngineAlert struct {
	Kind     string `json:"kind"` // service, environment
	Resource string `json:"resource"`
	Target   string `json:"target"`
	Status   string `json:"status"`
}

// EngineAnswer is what the engine answers.
type EngineAnswer struct {
	Recommendations []*berth.Recommendation `json:"recommendations"`
}

func (c *Core) snapshot(subj *recSubjects) *EngineSnapshot {
	cfg := c.recs.cfg.Engine.WithDefaults()
	s := &EngineSnapshot{Version: 1, GeneratedAt: c.now().UTC(), Window: recommend.FormatWindow(cfg.Window), Kinds: berth.RecKinds(),
		Services: []EngineService{}, Environments: []EngineEnvironment{}, Orphans: []EngineOrphan{}, Alerts: []EngineAlert{},
		Prices: map[string]berth.Prices{}, Targets: map[string]string{},
		Limits: map[string]map[string]int{"replicas": {"min": 1, "max": c.maxRepl}}}
	for _, name := range c.order {
		s.Prices[name] = c.Prices(name)
		s.Targets[name] = c.runtimes[name].Info().Provider
	}
	for _, ss := range subj.services {
		v := ss.svc
		es := EngineService{Target: v.Target, Namespace: v.Namespace, Name: v.Name, Managed: v.Managed, Status: string(v.Status),
			Replicas: v.Replicas, Revision: v.Revision, Stopped: v.Stopped,
			Spec:  EngineSpec{Image: v.Spec.Image, Template: v.Spec.Template, Replicas: v.Replicas, Resources: v.Spec.Resources, Ports: v.Spec.Ports},
			Usage: EngineServiceUsage{Samples: ss.samples, CPU: ss.cpu, Memory: ss.mem}}
		for _, i := range v.Instances {
			es.Instances = append(es.Instances, EngineReplicaInfo{Name: i.Name, Ready: i.Ready, Restarts: i.Restarts, LastExit: i.LastExit})
		}
		s.Services = append(s.Services, es)
		if v.Status == berth.ServiceDegraded || v.Status == berth.ServiceError {
			s.Alerts = append(s.Alerts, EngineAlert{Kind: "service", Resource: v.Name, Target: v.Target, Status: string(v.Status)})
		}
	}
	for _, e := range subj.envs {
		s.Environments = append(s.Environments, EngineEnvironment{ID: e.ID, Name: e.Name, Target: e.Target, Status: string(e.Status),
			CPUCores: e.CPUCores, MemoryGB: e.MemoryGB, StorageGB: e.StorageGB, AutoStopMinutes: e.AutoStopMinutes,
			LastAccessedAt: e.LastAccessedAt, UpdatedAt: e.UpdatedAt})
		if e.Status == berth.EnvError {
			s.Alerts = append(s.Alerts, EngineAlert{Kind: "environment", Resource: e.ID, Target: e.Target, Status: string(e.Status)})
		}
	}
	for _, o := range subj.orphans {
		s.Orphans = append(s.Orphans, EngineOrphan{Type: o.Type, ID: o.ID, Name: o.Name, Target: o.Target, Namespace: o.Namespace})
	}
	return s
}

// askEngine posts the snapshot and validates the answer. It never fails
// the refresh: what goes wrong is in the status it answers.
func (c *Core) askEngine(ctx context.Context, ext *ExternalEngine, _ berth.MetricsStore, subj *recSubjects) ([]*berth.Recommendation, *berth.RecEngineStatus) {
	now := c.now().UTC()
	st := &berth.RecEngineStatus{URL: ext.DisplayURL(), Status: "ok", LastRun: &now}
	answer, err := c.callEngine(ctx, ext, c.snapshot(subj))
	if err != nil {
		st.Status, st.Error = "unreachable", err.Error()
		var ie *invalidAnswer
		if errors.As(err, &ie) {
			st.Status = "invalid"
		}
		c.log.Warn("external recommendation engine", "url", st.URL, "err", err)
		return nil, st
	}
	var out []*berth.Recommendation
	for i, r := range answer.Recommendations {
		if i >= maxEngineRecs {
			st.Refused += len(answer.Recommendations) - maxEngineRecs
			st.Refusals = appendRefusal(st.Refusals, fmt.Sprintf("only the first %d recommendations are taken", maxEngineRecs))
			break
		}
		if r == nil {
			st.Refused++
			continue
		}
		if err := c.acceptEngineRec(r, subj); err != nil {
			st.Refused++
			st.Refusals = appendRefusal(st.Refusals, fmt.Sprintf("#%d (%s %s): %s", i, r.Kind, r.Subject.Name, berth.ErrorMessage(err)))
			continue
		}
		st.Accepted++
		out = append(out, r)
	}
	return out, st
}

func appendRefusal(rs []string, s string) []string {
	if len(s) > 300 {
		s = s[:300]
	}
	if len(rs) >= 10 {
		return rs
	}
	return append(rs, s)
}

type invalidAnswer struct{ msg string }

func (e *invalidAnswer) Error() string { return e.msg }

func (c *Core) callEngine(ctx context.Context, ext *ExternalEngine, snap *EngineSnapshot) (*EngineAnswer, error) {
	timeout := ext.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	limit := ext.MaxBody
	if limit <= 0 {
		limit = 1 << 20
	}
	client := ext.Client
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ext.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("engine request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "berth-recommendations/1")
	resp, err := client.Do(req) // #nosec G107 G704 -- the engine URL is berth's own configuration
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry credentials
		}
		return nil, fmt.Errorf("post snapshot to %s: %w", ext.DisplayURL(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, &invalidAnswer{fmt.Sprintf("engine answered HTTP %d", resp.StatusCode)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read engine answer: %w", err)
	}
	if int64(len(raw)) > limit {
		return nil, &invalidAnswer{fmt.Sprintf("engine answer is larger than %d bytes", limit)}
	}
	var ans EngineAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, &invalidAnswer{"engine answer is not the documented JSON: " + err.Error()}
	}
	return &ans, nil
}

// acceptEngineRec validates one answered recommendation against what
// berth knows and makes it berth's: source ai-engine, OPEN, current state
// and owner from berth, never from the engine.
func (c *Core) acceptEngineRec(r *berth.Recommendation, subj *recSubjects) error {
	if err := r.Validate(c.maxRepl); err != nil {
		return err
	}
	r.ID, r.Source, r.Status, r.Owner, r.Command = "", berth.RecSourceAIEngine, berth.RecOpen, "", ""
	r.AppliedAt, r.AppliedBy, r.RejectedBy, r.RejectReason, r.Result = nil, "", "", "", nil
	r.MonthlySaving.Currency = c.Prices(r.Target).Currency
	switch r.Subject.Type {
	case berth.RecSubjectService:
		for _, ss := range subj.services {
			v := ss.svc
			if v.Target == r.Target && v.Namespace == r.Namespace && v.Name == r.Subject.Name {
				rep := v.Replicas
				res := v.Spec.Resources
				r.Current = berth.RecState{Resources: &res, Replicas: &rep, Revision: v.Revision, Status: "RUNNING"}
				if v.Stopped {
					r.Current.Status = "STOPPED"
				}
				r.Subject.ID = ""
				if !v.Managed {
					r.Command = kubectlCommand(r, v)
				}
				if r.Kind == berth.RecRollback && (r.Proposed.Revision >= v.Revision) {
					return berth.Invalid("proposed.revision", "must be an earlier revision than %d", v.Revision)
				}
				return nil
			}
		}
		return berth.Invalid("subject", "no service %s on target %q namespace %q", r.Subject.Name, r.Target, r.Namespace)
	case berth.RecSubjectEnvironment:
		for _, e := range subj.envs {
			if e.ID == r.Subject.ID && e.Target == r.Target {
				r.Owner, r.Subject.Name, r.Namespace = e.UserID, e.Name, ""
				r.Current = berth.RecState{Status: string(e.Status)}
				return nil
			}
		}
		return berth.Invalid("subject", "no environment %q on target %q", r.Subject.ID, r.Target)
	case berth.RecSubjectInfrastructure:
		for _, o := range subj.orphans {
			if o.Type+"/"+o.ID == r.Subject.ID && o.Target == r.Target {
				r.Subject.Name, r.Namespace = o.Name, o.Namespace
				r.Current = berth.RecState{Status: o.Status}
				return nil
			}
		}
		return berth.Invalid("subject", "%q on target %q is not an orphan berth knows of", r.Subject.ID, r.Target)
	}
	return berth.Invalid("subject.type", "unknown")
}
