package chat

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// recLine is one recommendation in a few words: kind, title and saving.
func recLine(r *berth.Recommendation) string {
	line := fmt.Sprintf("%s %s: %s", r.ID, r.Kind, r.Title)
	if r.MonthlySaving.Amount > 0 {
		line += fmt.Sprintf(" (saves %.2f %s/month)", r.MonthlySaving.Amount, r.MonthlySaving.Currency)
	}
	return line
}

// diagnoseAdvice adds to a diagnosis the service's OPEN recommendations and
// the predictions that reach a limit, both as the caller may see them.
func (t *turn) diagnoseAdvice(s *berth.Service) {
	b := t.e.cfg.Backend
	recs, _, err := b.ListRecommendations(t.ctx, berth.RecommendationFilter{Status: berth.RecOpen, Service: s.Name,
		Target: s.Target, SubjectType: berth.RecSubjectService, Limit: 5})
	switch {
	case err != nil:
		t.say("Recommendations: %s", berth.ErrorMessage(err))
	case len(recs) == 0:
		t.say("No open recommendations.")
	default:
		t.say("Open recommendations:")
		for _, r := range recs {
			t.say("  %s", recLine(r))
		}
		t.resp.Suggestions = append(t.resp.Suggestions, "apply recommendation "+recs[0].ID)
	}
	preds, err := b.Predictions(t.ctx, core.PredictionQuery{Service: query(s)})
	if err != nil {
		t.say("Predictions: %s", berth.ErrorMessage(err))
		return
	}
	n := 0
	for _, p := range preds {
		if p.ReachesLimitAt == nil {
			continue
		}
		if n == 0 {
			t.say("Predictions:")
		}
		n++
		t.say("  %s reaches its limit (%s) at %s", p.Metric, p.LimitSource, p.ReachesLimitAt.UTC().Format(time.RFC3339))
	}
	if n == 0 {
		t.say("No prediction reaches a limit.")
	}
}

// becauseRE finds the reason of a rejection: what follows "because" or "reason".
var becauseRE = regexp.MustCompile(`(?is)\b(?:because|reason:?|since)\s+(.+)$`)

// recommendation resolves the recommendation the message names: by id, or
// by kind and service among the OPEN ones the caller may see.
func (t *turn) recommendation() (*berth.Recommendation, bool) {
	b := t.e.cfg.Backend
	if id := t.parsed.Args["rec"]; id != "" {
		r, err := b.GetRecommendation(t.ctx, id)
		if err != nil {
			_ = t.refused(err)
			t.resp.Suggestions = []string{"what is failing"}
			return nil, false
		}
		return r, true
	}
	name := t.parsed.Args["service"]
	if name == "" || pronouns[name] {
		t.say("Which recommendation? Name it by id (\"apply recommendation rec-…\") or by kind and service (\"apply the rightsize of web\").")
		return nil, false
	}
	s, ok := t.service()
	if !ok {
		return nil, false
	}
	kind := t.parsed.Args["kind"]
	recs, _, err := b.ListRecommendations(t.ctx, berth.RecommendationFilter{Status: berth.RecOpen, Service: s.Name,
		Target: s.Target, SubjectType: berth.RecSubjectService, Kind: berth.RecKind(kind), Limit: 10})
	if err != nil {
		_ = t.refused(err)
		return nil, false
	}
	verb := strings.TrimPrefix(t.parsed.Intent.Name, "recommendation.")
	switch len(recs) {
	case 0:
		what := "open recommendation"
		if kind != "" {
			what = "open " + kind + " recommendation"
		}
		t.say("%s on %s has no %s.", s.Name, where(s), what)
		t.resp.Suggestions = []string{"why is " + s.Name + " failing"}
		return nil, false
	case 1:
		return recs[0], true
	}
	t.say("%s on %s has %d open recommendations; which one?", s.Name, where(s), len(recs))
	for _, r := range recs {
		t.say("  %s", recLine(r))
		t.resp.Suggestions = append(t.resp.Suggestions, verb+" recommendation "+r.ID)
	}
	return nil, false
}

// recAction proposes applying or rejecting a recommendation. The role was
// checked by run; core checks role, ownership and state again when the
// confirmed action runs, as the REST route does.
func (t *turn) recAction() error {
	r, ok := t.recommendation()
	if !ok {
		return nil
	}
	verb := strings.TrimPrefix(t.parsed.Intent.Name, "recommendation.")
	if r.Status != berth.RecOpen {
		t.say("Recommendation %s is %s: only an OPEN one can be %s.", r.ID, r.Status, map[string]string{"apply": "applied", "reject": "rejected"}[verb])
		return nil
	}
	if verb == "apply" && !r.Applicable() {
		t.say("Recommendation %s has not enough data yet (%d samples missing): it proposes nothing to apply.", r.ID, r.Evidence.MissingSamples)
		return nil
	}
	subject := r.Subject.Name + " on " + r.Target
	if r.Namespace != "" {
		subject += ", namespace " + r.Namespace
	}
	summary := fmt.Sprintf("%s recommendation %s (%s of %s %s: %s)", verb, r.ID, r.Kind, r.Subject.Type, subject, r.Title)
	if r.MonthlySaving.Amount > 0 {
		summary += fmt.Sprintf(", saving %.2f %s/month", r.MonthlySaving.Amount, r.MonthlySaving.Currency)
	}
	p := plan{Intent: t.parsed.Intent.Name, RecID: r.ID}
	if verb == "reject" {
		if m := becauseRE.FindStringSubmatch(t.msg); m != nil {
			p.Reason = strings.TrimSpace(m[1])
			if len(p.Reason) > 1000 || !berth.PlainText(p.Reason) {
				t.say("A reason is at most 1000 characters of plain text.")
				return nil
			}
			summary += fmt.Sprintf(", because %q", p.Reason)
		}
	}
	return t.propose(p, summary)
}

// executeRec applies or rejects a confirmed recommendation through core,
// audited as the REST route audits it (kind, source, subject, result).
func (e *Engine) executeRec(ctx context.Context, p plan, ex Executed, start time.Time) Executed {
	b := e.cfg.Backend
	ex.Type, ex.Resource, ex.Action.Subject, ex.Action.Target = "recommendation", p.RecID, p.RecID, ""
	var r *berth.Recommendation
	var err error
	var result string
	if p.Intent == "recommendation.apply" {
		r, err = b.ApplyRecommendation(ctx, p.RecID, core.ApplyOptions{})
		result = fmt.Sprintf("recommendation %s applied", p.RecID)
	} else {
		r, err = b.RejectRecommendation(ctx, p.RecID, p.Reason)
		result = fmt.Sprintf("recommendation %s rejected", p.RecID)
	}
	if r != nil {
		ex.Action.Target = r.Target
		ex.Details["kind"], ex.Details["source"], ex.Details["subject"] = string(r.Kind), r.Source, r.Subject.Name
		if r.Result != nil {
			ex.Details["result"] = r.Result
		}
		result = fmt.Sprintf("%s (%s of %s)", result, r.Kind, r.Subject.Name)
	}
	return finish(ex, result, err, e.cfg.Now().Sub(start))
}
