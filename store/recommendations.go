package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/berthhq/berth"
)

var _ berth.RecommendationStore = (*Store)(nil)

const recColumns = "id, owner, body"

func newRecID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "rec-" + hex.EncodeToString(b)
}

func scanRec(sc scanner) (*berth.Recommendation, error) {
	var id, owner, body string
	if err := sc.Scan(&id, &owner, &body); err != nil {
		return nil, err
	}
	var r berth.Recommendation
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("decode recommendation %s: %w", id, err)
	}
	r.ID, r.Owner = id, owner
	return &r, nil
}

func normRec(r *berth.Recommendation) {
	r.CreatedAt, r.UpdatedAt = norm(r.CreatedAt), norm(r.UpdatedAt)
	r.AppliedAt = normPtr(r.AppliedAt)
}

// SaveRecommendation updates the OPEN recommendation of the subject and
// kind, or inserts one unless a recent rejection suppresses it.
func (s *Store) SaveRecommendation(ctx context.Context, rec *berth.Recommendation, now time.Time) (bool, error) {
	key := rec.SubjectKey()
	saved := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		open, err := s.recWhere(ctx, tx, "subject_key = ? AND kind = ? AND status = ?", key, string(rec.Kind), string(berth.RecOpen))
		if err != nil {
			return err
		}
		rec.Status, rec.UpdatedAt = berth.RecOpen, now
		if open != nil {
			rec.ID, rec.CreatedAt = open.ID, open.CreatedAt
			normRec(rec)
			body, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, s.q(`UPDATE recommendations SET source = ?, owner = ?, saving = ?, currency = ?, updated_at = ?, body = ? WHERE id = ?`),
				rec.Source, rec.Owner, rec.MonthlySaving.Amount, rec.MonthlySaving.Currency, micros(rec.UpdatedAt), string(body), rec.ID)
			saved = err == nil
			return err
		}
		rejected, err := s.recWhere(ctx, tx, "subject_key = ? AND kind = ? AND status = ? AND updated_at >= ? ORDER BY updated_at DESC",
			key, string(rec.Kind), string(berth.RecRejected), micros(now.Add(-berth.RecSuppression)))
		if err != nil {
			return err
		}
		if rejected != nil && !berth.ProposalMoved(rejected.Proposed, rec.Proposed) {
			return nil
		}
		rec.ID, rec.CreatedAt = newRecID(), now
		normRec(rec)
		body, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO recommendations (id, kind, source, target, namespace, subject_type,
			subject_name, subject_key, status, owner, saving, currency, created_at, updated_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			rec.ID, string(rec.Kind), rec.Source, rec.Target, rec.Namespace, rec.Subject.Type, rec.Subject.Name, key,
			string(rec.Status), rec.Owner, rec.MonthlySaving.Amount, rec.MonthlySaving.Currency, micros(rec.CreatedAt), micros(rec.UpdatedAt), string(body))
		if isUnique(err) {
			return berth.Errorf(berth.ECONFLICT, "an OPEN %s recommendation for %s exists", rec.Kind, rec.Subject.Name)
		}
		saved = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save %s recommendation for %s: %w", rec.Kind, rec.Subject.Name, err)
	}
	return saved, nil
}

// recWhere answers the first recommendation matching cond, or nil.
func (s *Store) recWhere(ctx context.Context, q querier, cond string, args ...any) (*berth.Recommendation, error) {
	r, err := scanRec(q.QueryRowContext(ctx, s.q("SELECT "+recColumns+" FROM recommendations WHERE "+cond+" LIMIT 1"), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// GetRecommendation answers one recommendation by id.
func (s *Store) GetRecommendation(ctx context.Context, id string) (*berth.Recommendation, error) {
	r, err := s.recWhere(ctx, s.rdb, "id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("get recommendation %s: %w", id, err)
	}
	if r == nil {
		return nil, berth.NotFound("recommendation", id)
	}
	return r, nil
}

// ListRecommendations answers the matching recommendations, newest update first.
func (s *Store) ListRecommendations(ctx context.Context, f berth.RecommendationFilter) ([]*berth.Recommendation, int, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	eq("status", string(f.Status))
	eq("kind", string(f.Kind))
	eq("target", f.Target)
	eq("subject_type", f.SubjectType)
	eq("subject_key", f.SubjectKey)
	if f.Service != "" {
		where, args = append(where, "subject_type = ? AND subject_name = ?"), append(args, berth.RecSubjectService, f.Service)
	}
	if f.VisibleTo != "" {
		where, args = append(where, "(subject_type <> ? OR owner = ?)"), append(args, berth.RecSubjectEnvironment, f.VisibleTo)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.rdb.QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM recommendations"+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count recommendations: %w", err)
	}
	page, pargs := pageClause(f.Offset, f.Limit)
	rows, err := s.rdb.QueryContext(ctx, s.q("SELECT "+recColumns+" FROM recommendations"+cond+" ORDER BY updated_at DESC, id"+page),
		append(args, pargs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list recommendations: %w", err)
	}
	defer rows.Close()
	out := []*berth.Recommendation{}
	for rows.Next() {
		r, err := scanRec(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list recommendations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list recommendations: %w", err)
	}
	return out, total, nil
}

// TransitionRecommendation stores rec if the stored one is in status from.
func (s *Store) TransitionRecommendation(ctx context.Context, rec *berth.Recommendation, from berth.RecStatus) error {
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = now()
	}
	normRec(rec)
	body, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("transition recommendation %s: %w", rec.ID, err)
	}
	res, err := s.x(ctx).ExecContext(ctx, s.q(`UPDATE recommendations SET status = ?, updated_at = ?, body = ? WHERE id = ? AND status = ?`),
		string(rec.Status), micros(rec.UpdatedAt), string(body), rec.ID, string(from))
	if err != nil {
		return fmt.Errorf("transition recommendation %s: %w", rec.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	cur, err := s.GetRecommendation(ctx, rec.ID)
	if err != nil {
		return err
	}
	return berth.Errorf(berth.ECONFLICT, "recommendation %s is %s, not %s", rec.ID, cur.Status, from)
}

// SummarizeRecommendations counts by status, OPEN ones by kind, and sums
// the OPEN ones' saving in the currency most of them use.
func (s *Store) SummarizeRecommendations(ctx context.Context, visibleTo string) (*berth.RecSummary, error) {
	cond, args := "", []any{}
	if visibleTo != "" {
		cond, args = " WHERE (subject_type <> ? OR owner = ?)", []any{berth.RecSubjectEnvironment, visibleTo}
	}
	rows, err := s.rdb.QueryContext(ctx, s.q(`SELECT status, kind, currency, COUNT(*), COALESCE(SUM(saving), 0) FROM recommendations`+cond+
		` GROUP BY status, kind, currency`), args...)
	if err != nil {
		return nil, fmt.Errorf("summarize recommendations: %w", err)
	}
	defer rows.Close()
	sum := &berth.RecSummary{ByKind: map[string]int{}, ByStatus: map[string]int{}}
	byCur := map[string]float64{}
	countCur := map[string]int{}
	for rows.Next() {
		var status, kind, cur string
		var n int
		var saving float64
		if err := rows.Scan(&status, &kind, &cur, &n, &saving); err != nil {
			return nil, fmt.Errorf("summarize recommendations: %w", err)
		}
		sum.ByStatus[status] += n
		if status == string(berth.RecOpen) {
			sum.Open += n
			sum.ByKind[kind] += n
			byCur[cur] += saving
			countCur[cur] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarize recommendations: %w", err)
	}
	for cur, n := range countCur {
		if n > countCur[sum.MonthlySaving.Currency] || (n == countCur[sum.MonthlySaving.Currency] && cur < sum.MonthlySaving.Currency) {
			sum.MonthlySaving.Currency = cur
		}
	}
	sum.MonthlySaving.Amount = math.Round(byCur[sum.MonthlySaving.Currency]*100) / 100
	return sum, nil
}
