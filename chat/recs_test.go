package chat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth"
	"github.com/berthhq/berth/core"
)

// rec stores an OPEN recommendation straight through the store.
func (w *world) rec(t *testing.T, r *berth.Recommendation) *berth.Recommendation {
	t.Helper()
	r.Source, r.Status, r.Confidence = berth.RecSourceBerth, berth.RecOpen, "high"
	if saved, err := w.st.SaveRecommendation(context.Background(), r, w.clk.Now()); err != nil || !saved {
		t.Fatalf("save recommendation: saved %v, %v", saved, err)
	}
	return r
}

func (w *world) storedRec(t *testing.T, id string) *berth.Recommendation {
	t.Helper()
	r, err := w.st.GetRecommendation(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRecommendations: diagnosis lists a service's open recommendations;
// applying and rejecting one takes the operator role and the confirm step,
// runs through core (the replicas change in the store, the recommendation
// turns APPLIED or REJECTED with the reason) and reports the action as
// recommendation.apply|reject via chat; another user's environment
// recommendation is not found.
func TestRecommendations(t *testing.T) {
	w := newWorld(t)
	w.service(t, "web", "local", 1)
	ctx := berth.WithActor(context.Background(), admin)
	svc, err := w.c.GetService(ctx, core.ServiceQuery{Name: "web", Target: "local"})
	if err != nil {
		t.Fatal(err)
	}
	one, two := 1, 2
	scale := w.rec(t, &berth.Recommendation{Kind: berth.RecScale, Target: "local",
		Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: "web"}, Title: "Scale web to 2 replicas", Reason: "p95 cpu 90%",
		Current: berth.RecState{Replicas: &one, Revision: svc.Revision}, Proposed: berth.RecState{Replicas: &two},
		Evidence: berth.Evidence{Samples: 100}, MonthlySaving: berth.Saving{Amount: -3.5, Currency: "USD"}})
	rightsize := w.rec(t, &berth.Recommendation{Kind: berth.RecRightsize, Target: "local",
		Subject: berth.RecSubject{Type: berth.RecSubjectService, Name: "web"}, Title: "Lower web's memory request", Reason: "p95 20%",
		Current:  berth.RecState{Replicas: &one, Revision: svc.Revision, Resources: &berth.Resources{CPU: "1", Memory: "1Gi"}},
		Proposed: berth.RecState{Resources: &berth.Resources{CPU: "1", Memory: "256Mi"}},
		Evidence: berth.Evidence{Samples: 100}, MonthlySaving: berth.Saving{Amount: 12.25, Currency: "USD"}})
	envRec := w.rec(t, &berth.Recommendation{Kind: berth.RecStopIdle, Target: "local", Owner: other.UserID,
		Subject: berth.RecSubject{Type: berth.RecSubjectEnvironment, Name: "theirs", ID: "env-theirs"}, Title: "Stop idle theirs",
		Proposed: berth.RecState{Status: "STOPPED"}, Evidence: berth.Evidence{Samples: 100}})

	r := w.ask(t, viewer, "why is web failing", "")
	for _, want := range []string{"Open recommendations:", scale.ID + " scale: Scale web to 2 replicas",
		rightsize.ID + " rightsize: Lower web's memory request (saves 12.25 USD/month)", "No prediction reaches a limit."} {
		if !strings.Contains(r.Reply, want) {
			t.Errorf("diagnosis lacks %q:\n%s", want, r.Reply)
		}
	}

	r = w.ask(t, viewer, "apply recommendation "+scale.ID, "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "operator role") || r.Intent != "recommendation.apply" {
		t.Fatalf("viewer's apply: %+v", r)
	}
	r = w.ask(t, operator, "apply the recommendation for web", "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "2 open recommendations") {
		t.Fatalf("two open ones must ask which: %+v", r)
	}
	r = w.ask(t, operator, "apply recommendation "+envRec.ID, "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "not found") {
		t.Fatalf("another user's environment recommendation: %+v", r)
	}

	// Rejected first: applying the scale changes web, which expires its other proposals.
	r = w.ask(t, operator, "Reject recommendation "+strings.ToUpper(rightsize.ID)+" because too risky", "")
	if r.Confirm == nil || !strings.Contains(r.Confirm.Summary, `because "too risky"`) || !strings.Contains(r.Confirm.Summary, "saving 12.25 USD/month") {
		t.Fatalf("reject: %+v", r)
	}
	out, err := w.confirm(operator, r.Confirm.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Executed) != 1 || out.Executed[0].Action.Action != "recommendation.reject" || out.Executed[0].Action.Status != berth.AuditCompleted ||
		out.Executed[0].Details["via"] != "chat" {
		t.Fatalf("executed: %+v", out.Executed)
	}
	if st := w.storedRec(t, rightsize.ID); st.Status != berth.RecRejected || st.RejectReason != "too risky" || st.RejectedBy != operator.Username {
		t.Fatalf("stored after reject: %s %q by %q", st.Status, st.RejectReason, st.RejectedBy)
	}
	r = w.ask(t, operator, "please apply the scale of web", "")
	if r.Confirm == nil || !strings.Contains(r.Confirm.Summary, "apply recommendation "+scale.ID+" (scale of service web on local") {
		t.Fatalf("no confirm step: %+v", r)
	}
	if got := w.replicas(t, "web"); got != 1 {
		t.Fatalf("asking changed replicas to %d", got)
	}
	out, err = w.confirm(operator, r.Confirm.Token)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Executed) != 1 {
		t.Fatalf("executed: %+v", out.Executed)
	}
	ex := out.Executed[0]
	if ex.Action.Action != "recommendation.apply" || ex.Action.Status != berth.AuditCompleted || ex.Details["via"] != "chat" ||
		ex.Details["kind"] != "scale" || ex.Resource != scale.ID || ex.Action.Target != "local" {
		t.Fatalf("executed: %+v", ex)
	}
	if got := w.replicas(t, "web"); got != 2 {
		t.Fatalf("replicas after apply = %d, want 2", got)
	}
	if st := w.storedRec(t, scale.ID); st.Status != berth.RecApplied || st.AppliedBy != operator.Username {
		t.Fatalf("stored after apply: %s by %q", st.Status, st.AppliedBy)
	}
	r = w.ask(t, operator, "apply recommendation "+scale.ID, "")
	if r.Confirm != nil || !strings.Contains(r.Reply, "is APPLIED") {
		t.Fatalf("applying an applied one: %+v", r)
	}

	r = w.ask(t, operator, "why is web failing", "")
	if !strings.Contains(r.Reply, "No open recommendations.") {
		t.Fatalf("diagnosis after both: %s", r.Reply)
	}
}

// TestDiagnosePredictions: a service whose CPU grows toward its requests ×
// replicas is diagnosed with the prediction that it reaches the limit.
func TestDiagnosePredictions(t *testing.T) {
	w := newWorld(t)
	one := 1
	spec := berth.ServiceSpec{Target: "local", Command: []string{"sleep", "600"}, Replicas: &one, Resources: berth.Resources{CPU: "1"}}
	if _, _, err := w.c.ApplyService(berth.WithActor(context.Background(), admin), "grow", spec); err != nil {
		t.Fatal(err)
	}
	now := w.clk.Now()
	first := now.Truncate(time.Hour).Add(-96 * time.Hour)
	pts := make([]berth.MetricPoint, 96)
	for i := range pts {
		v := 0.2 + 0.005*float64(i) // 0.675 an hour ago: 1 core about 65 h later
		pts[i] = berth.MetricPoint{Time: first.Add(time.Duration(i) * time.Hour), Value: v, Min: v, Max: v, P95: v, Count: 240}
	}
	if err := w.st.PutMetrics(context.Background(), berth.ResHour, []berth.MetricSeries{{MetricKey: berth.MetricKey{Target: "local",
		Kind: berth.SubjectService, Name: "grow", Metric: berth.MetricCPU}, Points: pts}}); err != nil {
		t.Fatal(err)
	}
	r := w.ask(t, viewer, "why is grow slow?", "")
	i := strings.Index(r.Reply, "cpu reaches its limit (request) at ")
	if i < 0 {
		t.Fatalf("diagnosis lacks the prediction:\n%s", r.Reply)
	}
	at, err := time.Parse(time.RFC3339, strings.Fields(r.Reply[i+len("cpu reaches its limit (request) at "):])[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := first.Add(95*time.Hour + 65*time.Hour); at.Before(want.Add(-7*time.Hour)) || at.After(want.Add(7*time.Hour)) {
		t.Fatalf("reaches the limit at %s, want about %s", at, want)
	}
}
