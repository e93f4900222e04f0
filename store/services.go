package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/berthhq/berth"
)

// splitSpec returns the spec's JSON without secrets and its sealed secrets.
func (s *Store) splitSpec(spec berth.ServiceSpec) (string, []byte, error) {
	secrets := spec.Secrets
	spec.Secrets = nil
	js, err := json.Marshal(spec)
	if err != nil {
		return "", nil, fmt.Errorf("encode spec: %w", err)
	}
	var sealed []byte
	if len(secrets) > 0 {
		plain, err := json.Marshal(secrets)
		if err != nil {
			return "", nil, fmt.Errorf("encode secrets: %w", err)
		}
		if sealed, err = s.seal(plain); err != nil {
			return "", nil, err
		}
	}
	return string(js), sealed, nil
}

// joinSpec decodes a stored spec and restores its sealed secrets.
func (s *Store) joinSpec(js string, sealed []byte) (berth.ServiceSpec, error) {
	var spec berth.ServiceSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		return spec, fmt.Errorf("decode spec: %w", err)
	}
	plain, err := s.open(sealed)
	if err != nil {
		return spec, err
	}
	if plain != nil {
		if err := json.Unmarshal(plain, &spec.Secrets); err != nil {
			return spec, fmt.Errorf("decode secrets: %w", err)
		}
	}
	return spec, nil
}

func normService(svc *berth.Service) {
	n := now()
	if svc.CreatedAt.IsZero() {
		svc.CreatedAt = n
	}
	if svc.UpdatedAt.IsZero() {
		svc.UpdatedAt = svc.CreatedAt
	}
	svc.CreatedAt, svc.UpdatedAt = norm(svc.CreatedAt), norm(svc.UpdatedAt)
}

// CreateService stores a new service with its first revision. ECONFLICT if
// a service with the same target, namespace and name exists.
func (s *Store) CreateService(ctx context.Context, svc *berth.Service, rev *berth.Revision) error {
	normService(svc)
	spec, sealed, err := s.splitSpec(svc.Spec)
	if err != nil {
		return fmt.Errorf("create service %s: %w", svc.Name, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO services (target, namespace, name, status, replicas, ready_replicas,
			revision, managed, stopped, spec, secrets, message, owner, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			svc.Target, svc.Namespace, svc.Name, string(svc.Status), svc.Replicas, svc.ReadyReplicas, svc.Revision,
			svc.Managed, svc.Stopped, spec, sealed, svc.Message, svc.Owner, micros(svc.CreatedAt), micros(svc.UpdatedAt))
		if err != nil {
			if isUnique(err) {
				return berth.Errorf(berth.ECONFLICT, "service %q already exists", refName(svc.Ref()))
			}
			return err
		}
		if rev != nil {
			if err := s.insertRevision(ctx, tx, svc.Ref(), rev); err != nil {
				return err
			}
		}
		return s.meter(ctx, tx, svcMeter(svc))
	})
	if err != nil {
		return fmt.Errorf("create service %s: %w", svc.Name, err)
	}
	return nil
}

func (s *Store) insertRevision(ctx context.Context, tx *sql.Tx, ref berth.ServiceRef, rev *berth.Revision) error {
	rev.Service = ref
	if rev.CreatedAt.IsZero() {
		rev.CreatedAt = now()
	}
	rev.CreatedAt = norm(rev.CreatedAt)
	spec, sealed, err := s.splitSpec(rev.Spec)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO revisions (target, namespace, name, number, spec, secrets, cause, author, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		ref.Target, ref.Namespace, ref.Name, rev.Number, spec, sealed, rev.Cause, rev.Author, micros(rev.CreatedAt))
	if isUnique(err) {
		return berth.Errorf(berth.ECONFLICT, "revision %d of service %q already exists", rev.Number, refName(ref))
	}
	return err
}

// UpdateService replaces the desired state of an existing service and, when
// rev is not nil, adds that revision in the same transaction.
func (s *Store) UpdateService(ctx context.Context, svc *berth.Service, rev *berth.Revision) error {
	if svc.UpdatedAt.IsZero() {
		svc.UpdatedAt = now()
	}
	svc.UpdatedAt = norm(svc.UpdatedAt)
	if rev != nil && rev.Number != svc.Revision {
		return berth.Errorf(berth.EINTERNAL, "update service %s: revision %d does not match service revision %d", svc.Name, rev.Number, svc.Revision)
	}
	readAt := svc.Revision // the revision the change was made to
	if rev != nil {
		readAt--
	}
	spec, sealed, err := s.splitSpec(svc.Spec)
	if err != nil {
		return fmt.Errorf("update service %s: %w", svc.Name, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// Written only over the revision svc was read at: a copy read
		// before another replica's new revision never puts the old spec back.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE services SET status = ?, replicas = ?, ready_replicas = ?, revision = ?,
			managed = ?, stopped = ?, spec = ?, secrets = ?, message = ?, owner = ?, updated_at = ?
			WHERE target = ? AND namespace = ? AND name = ? AND revision = ?`),
			string(svc.Status), svc.Replicas, svc.ReadyReplicas, svc.Revision, svc.Managed, svc.Stopped, spec, sealed,
			svc.Message, svc.Owner, micros(svc.UpdatedAt), svc.Target, svc.Namespace, svc.Name, readAt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var now int
			err := tx.QueryRowContext(ctx, s.q(`SELECT revision FROM services WHERE target = ? AND namespace = ? AND name = ?`),
				svc.Target, svc.Namespace, svc.Name).Scan(&now)
			if errors.Is(err, sql.ErrNoRows) {
				return berth.NotFound("service", refName(svc.Ref()))
			} else if err != nil {
				return err
			}
			return berth.Errorf(berth.ECONFLICT, "service %q changed meanwhile: it is at revision %d, this change was made to revision %d; read it again", refName(svc.Ref()), now, readAt)
		}
		if rev != nil {
			if err := s.insertRevision(ctx, tx, svc.Ref(), rev); err != nil {
				return err
			}
		}
		return s.meter(ctx, tx, svcMeter(svc))
	})
	if err != nil {
		return fmt.Errorf("update service %s: %w", svc.Name, err)
	}
	return nil
}

const serviceColumns = `target, namespace, name, status, replicas, ready_replicas, revision, managed, stopped,
	spec, secrets, message, owner, created_at, updated_at`

func (s *Store) scanService(row scanner) (*berth.Service, error) {
	var (
		spec               string
		sealed             []byte
		created, updated   int64
		status             string
		managed, stoppedFl bool
	)
	out := &berth.Service{}
	if err := row.Scan(&out.Target, &out.Namespace, &out.Name, &status, &out.Replicas, &out.ReadyReplicas, &out.Revision,
		&managed, &stoppedFl, &spec, &sealed, &out.Message, &out.Owner, &created, &updated); err != nil {
		return nil, err
	}
	out.Status = berth.ServiceStatus(status)
	out.Managed, out.Stopped = managed, stoppedFl
	out.CreatedAt, out.UpdatedAt = fromMicros(created), fromMicros(updated)
	var err error
	if out.Spec, err = s.joinSpec(spec, sealed); err != nil {
		return nil, err
	}
	return out, nil
}

// GetService returns one service. ENOTFOUND if missing.
func (s *Store) GetService(ctx context.Context, ref berth.ServiceRef) (*berth.Service, error) {
	row := s.r(ctx).QueryRowContext(ctx, s.q(`SELECT `+serviceColumns+` FROM services
		WHERE target = ? AND namespace = ? AND name = ?`), ref.Target, ref.Namespace, ref.Name)
	out, err := s.scanService(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("service", refName(ref))
	}
	if err != nil {
		return nil, fmt.Errorf("get service %s: %w", ref, err)
	}
	return out, nil
}

// ListServices returns matching services ordered by target, namespace, name
// and the total count before paging.
func (s *Store) ListServices(ctx context.Context, f berth.ServiceFilter) ([]*berth.Service, int, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"target", f.Target}, {"namespace", f.Namespace}, {"name", f.Name}, {"owner", f.Owner}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r(ctx).QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM services"+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count services: %w", err)
	}
	page, pargs := pageClause(f.Offset, f.Limit)
	rows, err := s.r(ctx).QueryContext(ctx, s.q("SELECT "+serviceColumns+" FROM services"+cond+
		" ORDER BY target, namespace, name"+page), append(args, pargs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	out := []*berth.Service{}
	for rows.Next() {
		svc, err := s.scanService(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list services: %w", err)
		}
		out = append(out, svc)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list services: %w", err)
	}
	return out, total, nil
}

// DeleteService removes a service and its revisions. ENOTFOUND if missing.
func (s *Store) DeleteService(ctx context.Context, ref berth.ServiceRef) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Explicit rather than relying on ON DELETE CASCADE alone, so a
		// database opened without foreign keys enforced stays clean.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM revisions WHERE target = ? AND namespace = ? AND name = ?`),
			ref.Target, ref.Namespace, ref.Name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM services WHERE target = ? AND namespace = ? AND name = ?`),
			ref.Target, ref.Namespace, ref.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return berth.NotFound("service", refName(ref))
		}
		return s.meter(ctx, tx, meterShape{kind: "service", id: ref.String()}) // gone: holds nothing
	})
	if err != nil {
		return fmt.Errorf("delete service %s: %w", ref, err)
	}
	return nil
}

const revisionColumns = `target, namespace, name, number, spec, secrets, cause, author, created_at`

func (s *Store) scanRevision(row scanner) (*berth.Revision, error) {
	var (
		r       berth.Revision
		spec    string
		sealed  []byte
		created int64
	)
	if err := row.Scan(&r.Service.Target, &r.Service.Namespace, &r.Service.Name, &r.Number, &spec, &sealed,
		&r.Cause, &r.Author, &created); err != nil {
		return nil, err
	}
	r.CreatedAt = fromMicros(created)
	var err error
	if r.Spec, err = s.joinSpec(spec, sealed); err != nil {
		return nil, err
	}
	return &r, nil
}

// ListRevisions returns the revisions of a service, newest first. A service
// without revisions (or a missing one) has an empty list.
func (s *Store) ListRevisions(ctx context.Context, ref berth.ServiceRef) ([]*berth.Revision, error) {
	rows, err := s.r(ctx).QueryContext(ctx, s.q(`SELECT `+revisionColumns+` FROM revisions
		WHERE target = ? AND namespace = ? AND name = ? ORDER BY number DESC`), ref.Target, ref.Namespace, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", ref, err)
	}
	defer rows.Close()
	out := []*berth.Revision{}
	for rows.Next() {
		r, err := s.scanRevision(rows)
		if err != nil {
			return nil, fmt.Errorf("list revisions of %s: %w", ref, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", ref, err)
	}
	return out, nil
}

// GetRevision returns one revision. ENOTFOUND (kind "revision") if missing.
func (s *Store) GetRevision(ctx context.Context, ref berth.ServiceRef, number int) (*berth.Revision, error) {
	row := s.r(ctx).QueryRowContext(ctx, s.q(`SELECT `+revisionColumns+` FROM revisions
		WHERE target = ? AND namespace = ? AND name = ? AND number = ?`), ref.Target, ref.Namespace, ref.Name, number)
	r, err := s.scanRevision(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("revision", strconv.Itoa(number))
	}
	if err != nil {
		return nil, fmt.Errorf("get revision %d of %s: %w", number, ref, err)
	}
	return r, nil
}

// refName is how clients name a service: "web", or "ns/web" on a cluster.
func refName(ref berth.ServiceRef) string {
	if ref.Namespace != "" {
		return ref.Namespace + "/" + ref.Name
	}
	return ref.Name
}
