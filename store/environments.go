package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth"
	"github.com/google/uuid"
)

const envColumns = `id, user_id, name, status, cloud_provider, cloud_region, target, template,
	aci_container_group_id, aci_public_ip, azure_file_share_name, vscode_url, cpu_cores, memory_gb,
	storage_gb, base_image, git_user_name, git_user_email, env, auto_stop_minutes, message, stopped,
	secrets, created_at, updated_at, last_accessed_at, stopped_at, dormant_at, delete_at, pinned`

// envValues returns the row of env in envColumns order.
func (s *Store) envValues(env *berth.Environment) ([]any, error) {
	envJSON, err := json.Marshal(env.Env)
	if err != nil {
		return nil, fmt.Errorf("encode env: %w", err)
	}
	var sealed []byte
	if !env.Secrets.IsZero() {
		plain, err := json.Marshal(env.Secrets)
		if err != nil {
			return nil, fmt.Errorf("encode secrets: %w", err)
		}
		if sealed, err = s.seal(plain); err != nil {
			return nil, err
		}
	}
	return []any{env.ID, env.UserID, env.Name, string(env.Status), env.CloudProvider, env.CloudRegion,
		env.Target, env.Template, env.ACIContainerGroupID, env.ACIPublicIP, env.AzureFileShareName,
		env.VSCodeURL, env.CPUCores, env.MemoryGB, env.StorageGB, env.BaseImage, env.GitUserName,
		env.GitUserEmail, string(envJSON), env.AutoStopMinutes, env.Message, env.Stopped, sealed,
		micros(env.CreatedAt), micros(env.UpdatedAt), micros(env.LastAccessedAt),
		nullMicros(env.StoppedAt), nullMicros(env.DormantSince), nullMicros(env.DeleteAt), env.Pinned}, nil
}

func (s *Store) scanEnvironment(row scanner) (*berth.Environment, error) {
	var (
		e                          berth.Environment
		status, envJSON            string
		sealed                     []byte
		created, updated, accessed int64
		stoppedAt, dormant, delAt  sql.NullInt64
	)
	if err := row.Scan(&e.ID, &e.UserID, &e.Name, &status, &e.CloudProvider, &e.CloudRegion, &e.Target,
		&e.Template, &e.ACIContainerGroupID, &e.ACIPublicIP, &e.AzureFileShareName, &e.VSCodeURL,
		&e.CPUCores, &e.MemoryGB, &e.StorageGB, &e.BaseImage, &e.GitUserName, &e.GitUserEmail, &envJSON,
		&e.AutoStopMinutes, &e.Message, &e.Stopped, &sealed, &created, &updated, &accessed,
		&stoppedAt, &dormant, &delAt, &e.Pinned); err != nil {
		return nil, err
	}
	e.StoppedAt, e.DormantSince, e.DeleteAt = fromNullMicros(stoppedAt), fromNullMicros(dormant), fromNullMicros(delAt)
	e.Status = berth.EnvStatus(status)
	e.CreatedAt, e.UpdatedAt, e.LastAccessedAt = fromMicros(created), fromMicros(updated), fromMicros(accessed)
	if err := json.Unmarshal([]byte(envJSON), &e.Env); err != nil {
		return nil, fmt.Errorf("decode env: %w", err)
	}
	plain, err := s.open(sealed)
	if err != nil {
		return nil, err
	}
	if plain != nil {
		if err := json.Unmarshal(plain, &e.Secrets); err != nil {
			return nil, fmt.Errorf("decode secrets: %w", err)
		}
	}
	return &e, nil
}

// CreateEnvironment stores a new environment (an ID is generated when
// empty). ECONFLICT if the ID exists.
func (s *Store) CreateEnvironment(ctx context.Context, env *berth.Environment) error {
	if env.ID == "" {
		env.ID = "env-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	}
	n := now()
	if env.CreatedAt.IsZero() {
		env.CreatedAt = n
	}
	if env.UpdatedAt.IsZero() {
		env.UpdatedAt = env.CreatedAt
	}
	if env.LastAccessedAt.IsZero() {
		env.LastAccessedAt = env.CreatedAt
	}
	env.CreatedAt, env.UpdatedAt, env.LastAccessedAt = norm(env.CreatedAt), norm(env.UpdatedAt), norm(env.LastAccessedAt)
	vals, err := s.envValues(env)
	if err != nil {
		return fmt.Errorf("create environment %s: %w", env.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO environments (`+envColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), vals...)
		if err != nil {
			return err
		}
		return s.meter(ctx, tx, envMeter(env))
	})
	if isUnique(err) {
		return berth.Errorf(berth.ECONFLICT, "environment %q already exists", env.ID)
	}
	if err != nil {
		return fmt.Errorf("create environment %s: %w", env.ID, err)
	}
	return nil
}

// UpdateEnvironment replaces every mutable field (all but id and
// createdAt). ENOTFOUND if missing.
func (s *Store) UpdateEnvironment(ctx context.Context, env *berth.Environment) error {
	if env.UpdatedAt.IsZero() {
		env.UpdatedAt = now()
	}
	env.UpdatedAt, env.LastAccessedAt = norm(env.UpdatedAt), norm(env.LastAccessedAt)
	vals, err := s.envValues(env)
	if err != nil {
		return fmt.Errorf("update environment %s: %w", env.ID, err)
	}
	cols := strings.Split(envColumns, ",")
	var sets []string
	var args []any
	for i, c := range cols {
		c = strings.TrimSpace(c)
		if c == "id" || c == "created_at" {
			continue
		}
		sets = append(sets, c+" = ?")
		args = append(args, vals[i])
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q("UPDATE environments SET "+strings.Join(sets, ", ")+" WHERE id = ?"),
			append(args, env.ID)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return berth.NotFound("environment", env.ID)
		}
		return s.meter(ctx, tx, envMeter(env))
	})
	if err != nil {
		return fmt.Errorf("update environment %s: %w", env.ID, err)
	}
	return nil
}

// GetEnvironment returns one environment. ENOTFOUND if missing.
func (s *Store) GetEnvironment(ctx context.Context, id string) (*berth.Environment, error) {
	e, err := s.scanEnvironment(s.r(ctx).QueryRowContext(ctx, s.q(`SELECT `+envColumns+` FROM environments WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, berth.NotFound("environment", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get environment %s: %w", id, err)
	}
	return e, nil
}

// ListEnvironments returns matching environments, newest first, and the
// total count before paging.
func (s *Store) ListEnvironments(ctx context.Context, f berth.EnvironmentFilter) ([]*berth.Environment, int, error) {
	var where []string
	var args []any
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if f.Target != "" {
		where, args = append(where, "target = ?"), append(args, f.Target)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r(ctx).QueryRowContext(ctx, s.q("SELECT COUNT(*) FROM environments"+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count environments: %w", err)
	}
	page, pargs := pageClause(f.Offset, f.Limit)
	rows, err := s.r(ctx).QueryContext(ctx, s.q("SELECT "+envColumns+" FROM environments"+cond+
		" ORDER BY created_at DESC, id"+page), append(args, pargs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list environments: %w", err)
	}
	defer rows.Close()
	out := []*berth.Environment{}
	for rows.Next() {
		e, err := s.scanEnvironment(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list environments: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list environments: %w", err)
	}
	return out, total, nil
}

// DeleteEnvironment removes an environment. ENOTFOUND if missing.
func (s *Store) DeleteEnvironment(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM environments WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return berth.NotFound("environment", id)
		}
		return s.meter(ctx, tx, meterShape{kind: "environment", id: id}) // gone: holds nothing
	})
	if err != nil {
		return fmt.Errorf("delete environment %s: %w", id, err)
	}
	return nil
}

// TouchEnvironment moves lastAccessedAt to at, never backwards.
// ENOTFOUND if missing.
func (s *Store) TouchEnvironment(ctx context.Context, id string, at time.Time) error {
	res, err := s.x(ctx).ExecContext(ctx, s.q(`UPDATE environments SET last_accessed_at = ?
		WHERE id = ? AND last_accessed_at < ?`), micros(at), id, micros(at))
	if err != nil {
		return fmt.Errorf("touch environment %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch environment %s: %w", id, err)
	} else if n > 0 {
		return nil
	}
	// Nothing moved: either it is missing or already more recent.
	var one int
	err = s.r(ctx).QueryRowContext(ctx, s.q(`SELECT 1 FROM environments WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return berth.NotFound("environment", id)
	}
	if err != nil {
		return fmt.Errorf("touch environment %s: %w", id, err)
	}
	return nil
}
