package core

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

// ApplyOptions are the caller's choices when applying.
type ApplyOptions struct {
	// KeepVolume keeps an environment's volume when delete-dormant deletes it
	// (nil: what the recommendation proposes).
	KeepVolume *bool
}

// ApplyRecommendation runs what an OPEN recommendation proposes through
// core's own actions as the caller, so it needs what the action needs (an
// operator to scale, stop or roll back; the owner or an admin to change
// what a service runs), whichever engine proposed it. A recommendation
// that is not OPEN, says "not enough data", or whose subject changed since
// is CONFLICT and nothing changes; so is rightsizing a Kubernetes workload
// berth did not create (the recommendation carries the kubectl command).
// On success it is APPLIED with the action's result; when the runtime
// fails it is FAILED with the error.
func (c *Core) ApplyRecommendation(ctx context.Context, id string, opts ApplyOptions) (*berth.Recommendation, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !a.Role.AtLeast(berth.RoleOperator) {
		return nil, berth.Errorf(berth.EFORBIDDEN, "apply recommendation %s: needs the operator role", id)
	}
	unlock := c.lock("rec/" + id)
	defer unlock()
	r, err := c.GetRecommendation(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != berth.RecOpen {
		return nil, berth.Errorf(berth.ECONFLICT, "apply recommendation %s: it is %s, only an OPEN one can be applied", id, r.Status)
	}
	if !r.Applicable() {
		return nil, berth.Errorf(berth.ECONFLICT, "apply recommendation %s: not enough data (%d samples missing), nothing is proposed", id, r.Evidence.MissingSamples)
	}
	rs, _, _ := c.recStores()
	if err := c.checkCurrent(ctx, rs, r); err != nil {
		return nil, err
	}
	start := c.now()
	result, action, err := c.runRecommendation(context.WithValue(ctx, applyingKey{}, r.ID), r, opts)
	if action != "" {
		c.auditRecAction(ctx, a, r, action, start, result, err)
	}
	now := c.now().UTC()
	if err != nil {
		switch berth.ErrorCode(err) {
		case berth.EFORBIDDEN, berth.ECONFLICT, berth.EINVALID, berth.ENOTFOUND, berth.EUNAUTHORIZED:
			// The caller may not, or the subject is not as proposed: nothing
			// was done, the recommendation stays OPEN.
			return nil, berth.Wrap(err, berth.ECONFLICT, "apply recommendation %s", id)
		}
		r.Status, r.UpdatedAt, r.AppliedBy = berth.RecFailed, now, a.Username
		r.Result = map[string]any{"error": berth.ErrorMessage(err)}
		if terr := rs.TransitionRecommendation(ctx, r, berth.RecOpen); terr != nil {
			c.log.Error("record failed recommendation", "id", id, "err", terr)
		}
		c.recEvent(ctx, "recommendation.failed", r)
		return nil, berth.Wrap(err, berth.ESERVICE, "apply recommendation %s", id)
	}
	r.Status, r.UpdatedAt, r.AppliedAt, r.AppliedBy, r.Result = berth.RecApplied, now, &now, a.Username, result
	if err := rs.TransitionRecommendation(ctx, r, berth.RecOpen); err != nil {
		return nil, fmt.Errorf("apply recommendation %s: record it: %w", id, err)
	}
	c.recEvent(ctx, "recommendation.applied", r)
	c.expireSiblings(ctx, rs, r)
	return r, nil
}

// checkCurrent refuses (and expires) a recommendation whose subject is no
// longer what it was computed for, and a rightsize of a workload berth did
// not create.
func (c *Core) checkCurrent(ctx context.Context, rs berth.RecommendationStore, r *berth.Recommendation) error {
	if r.Subject.Type != berth.RecSubjectService {
		return nil
	}
	svc, stored, err := c.find(ctx, ServiceQuery{Name: r.Subject.Name, Target: r.Target, Namespace: r.Namespace})
	if berth.IsCode(err, berth.ENOTFOUND) {
		c.expireRec(ctx, rs, r, "its service is gone", c.now().UTC())
		return berth.Errorf(berth.ECONFLICT, "apply recommendation %s: service %s is gone; the recommendation expired", r.ID, r.Subject.Name)
	}
	if err != nil {
		return fmt.Errorf("apply recommendation %s: %w", r.ID, err)
	}
	if !stored {
		if r.Kind == berth.RecRightsize || r.Kind == berth.RecScale {
			return berth.Errorf(berth.ECONFLICT, "apply recommendation %s: berth did not create %s and does not change what runs there; "+
				"whoever manages it can run: %s", r.ID, svc.Name, kubectlCommand(r, svc))
		}
		return nil
	}
	changed := svc.Revision != r.Current.Revision && r.Current.Revision != 0
	if r.Current.Replicas != nil && (r.Kind == berth.RecScale || r.Kind == berth.RecRightsize) && svc.Replicas != *r.Current.Replicas {
		changed = true
	}
	if changed {
		c.expireRec(ctx, rs, r, "its service changed since it was proposed", c.now().UTC())
		return berth.Errorf(berth.ECONFLICT, "apply recommendation %s: service %s changed since (revision %d, %d replicas); the recommendation expired",
			r.ID, svc.Name, svc.Revision, svc.Replicas)
	}
	return nil
}

// runRecommendation does the action; it answers its result and the audit
// action of the action's own entry.
func (c *Core) runRecommendation(ctx context.Context, r *berth.Recommendation, opts ApplyOptions) (map[string]any, string, error) {
	q := ServiceQuery{Name: r.Subject.Name, Target: r.Target, Namespace: r.Namespace}
	switch {
	case r.Kind == berth.RecRightsize:
		stored, err := c.store.GetService(ctx, berth.ServiceRef{Target: r.Target, Namespace: r.Namespace, Name: r.Subject.Name})
		if err != nil {
			return nil, "service.apply", err
		}
		spec := stored.Spec
		p := r.Proposed.Resources
		if p.CPU != "" {
			spec.Resources.CPU = p.CPU
		}
		if p.Memory != "" {
			spec.Resources.Memory = p.Memory
		}
		svc, _, err := c.ApplyService(ctx, r.Subject.Name, spec)
		if err != nil {
			return nil, "service.apply", err
		}
		return map[string]any{"service": svc.Name, "revision": svc.Revision, "resources": svc.Spec.Resources}, "service.apply", nil
	case r.Kind == berth.RecScale:
		svc, err := c.ScaleService(ctx, q, *r.Proposed.Replicas)
		if err != nil {
			return nil, "service.scale", err
		}
		return map[string]any{"service": svc.Name, "replicas": svc.Replicas}, "service.scale", nil
	case r.Kind == berth.RecRollback:
		svc, err := c.RollbackService(ctx, q, r.Proposed.Revision)
		if err != nil {
			return nil, "service.rollback", err
		}
		return map[string]any{"service": svc.Name, "revision": svc.Revision, "rolledBackTo": r.Proposed.Revision}, "service.rollback", nil
	case r.Kind == berth.RecStopIdle && r.Subject.Type == berth.RecSubjectService:
		svc, err := c.StopService(ctx, q)
		if err != nil {
			return nil, "service.stop", err
		}
		return map[string]any{"service": svc.Name, "stopped": svc.Stopped}, "service.stop", nil
	case r.Kind == berth.RecStopIdle:
		env, err := c.StopEnvironment(ctx, r.Subject.ID)
		if err != nil {
			return nil, "environment.stop", err
		}
		return map[string]any{"environment": env.ID, "status": env.Status}, "environment.stop", nil
	case r.Kind == berth.RecDeleteDormant:
		keep := opts.KeepVolume
		if keep == nil {
			keep = r.Proposed.KeepVolume
		}
		kv := keep != nil && *keep
		env, err := c.DeleteEnvironment(ctx, r.Subject.ID, kv)
		if err != nil {
			return nil, "environment.delete", err
		}
		return map[string]any{"environment": env.ID, "deleted": true, "keepVolume": kv}, "environment.delete", nil
	case r.Kind == berth.RecCleanupOrphan:
		typ, id, _ := strings.Cut(r.Subject.ID, "/")
		if err := c.InfraAction(ctx, typ, id, r.Target, "delete"); err != nil {
			return nil, "infrastructure.delete", err
		}
		return map[string]any{"deleted": r.Subject.ID}, "infrastructure.delete", nil
	}
	return nil, "", berth.Errorf(berth.EINVALID, "recommendation %s: kind %s cannot be applied to a %s", r.ID, r.Kind, r.Subject.Type)
}

// auditRecAction writes the action's own audit entry, beside the route's
// recommendation.apply.
func (c *Core) auditRecAction(ctx context.Context, a berth.Actor, r *berth.Recommendation, action string, start time.Time, result map[string]any, err error) {
	verb := action[strings.LastIndex(action, ".")+1:]
	resType, _, _ := strings.Cut(action, ".")
	details := map[string]any{"recommendation": r.ID, "kind": string(r.Kind), "source": r.Source}
	for k, v := range result {
		details[k] = v
	}
	e := &berth.AuditEntry{
		Timestamp: c.now().UTC(), UserID: a.UserID, Username: a.Username, Action: action, Type: verb,
		ResourceType: resType, Resource: cmp.Or(r.Subject.ID, r.Subject.Name), Target: r.Target,
		Status: berth.AuditCompleted, DurationMs: c.now().Sub(start).Milliseconds(), Details: details,
	}
	if err != nil {
		e.Status, e.Error = berth.AuditFailed, berth.ErrorMessage(err)
	}
	c.audit(ctx, e)
}

// expireSiblings expires the other OPEN recommendations of the subject
// apply just changed.
func (c *Core) expireSiblings(ctx context.Context, rs berth.RecommendationStore, r *berth.Recommendation) {
	open, _, err := rs.ListRecommendations(ctx, berth.RecommendationFilter{Status: berth.RecOpen, SubjectKey: r.SubjectKey()})
	if err != nil {
		c.log.Warn("expire recommendations of a changed subject", "err", err)
		return
	}
	for _, o := range open {
		c.expireRec(ctx, rs, o, "recommendation "+r.ID+" changed its subject", c.now().UTC())
	}
}
