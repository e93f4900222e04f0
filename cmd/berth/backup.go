package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/secret"
	"github.com/berthhq/berth/store"
	"github.com/spf13/cobra"
)

// storeFlags are the flags that say which store a maintenance command
// works on: the same configuration as `berth serve`.
type storeFlags struct{ configPath, dataDir, passphraseFile string }

func (f *storeFlags) add(cmd *cobra.Command, passphrase bool) {
	cmd.Flags().StringVarP(&f.configPath, "config", "c", "", "berth.yaml to read, as berth serve does (env BERTH_CONFIG_FILE)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "berth's data dir, as berth serve's (env BERTH_DATA_DIR; default ./berth-data)")
	if passphrase {
		cmd.Flags().StringVar(&f.passphraseFile, "passphrase-file", "", "file holding the backup's passphrase (env BERTH_BACKUP_PASSPHRASE)")
	}
}

// storeConfig is what a maintenance command needs: the store's URL (the
// data dir's berth.db unless a database URL is set), the data dir and the
// environment.
type storeConfig struct {
	url, dataDir string
	getenv       func(string) string
}

func (f *storeFlags) load(e *cliEnv) (*storeConfig, error) {
	getenv, err := layeredEnv(e.getenv, ".env")
	if err != nil {
		return nil, err
	}
	cfg, err := loadServerConfig(getenv, f.configPath)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cmp.Or(f.dataDir, cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &storeConfig{url: cmp.Or(cfg.DatabaseURL, filepath.Join(dir, "berth.db")), dataDir: dir, getenv: getenv}, nil
}

func (f *storeFlags) passphrase(getenv func(string) string) (string, error) {
	if f.passphraseFile == "" {
		return getenv("BERTH_BACKUP_PASSPHRASE"), nil
	}
	b, err := os.ReadFile(f.passphraseFile)
	if err != nil {
		return "", fmt.Errorf("read passphrase: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// sealer is the store's sealer from berth's secret key. The key must exist
// (BERTH_SECRET_KEY or the data dir's secret.key): a new one would open no
// restored secret.
func (c *storeConfig) sealer() (*secret.Sealer, error) {
	keyFile := filepath.Join(c.dataDir, "secret.key")
	if c.getenv(secret.EnvKey) == "" {
		if _, err := os.Stat(keyFile); err != nil {
			return nil, fmt.Errorf("no secret key: set %s or put the key berth used at %s (the data's secrets are sealed with it)", secret.EnvKey, keyFile)
		}
	}
	master, err := secret.LoadKey(c.getenv, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	return secret.NewSealer(secret.DeriveKey(master, "seal"))
}

func newBackupCmd(e *cliEnv) *cobra.Command {
	var f storeFlags
	var to string
	cmd := &cobra.Command{
		Use:   "backup --to FILE",
		Short: "Write a consistent snapshot of berth's store to FILE, while berth serves",
		Long: "Reads the store of the configuration given (the data dir's SQLite database, or BERTH_DATABASE_URL) directly: " +
			"SQLite through VACUUM INTO, PostgreSQL in one REPEATABLE READ transaction. With a passphrase " +
			"(--passphrase-file or BERTH_BACKUP_PASSPHRASE) the file is encrypted (scrypt, AES-256-GCM). " +
			"Secrets inside stay sealed with berth's secret key: keep the key apart from the backup.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.load(e)
			if err != nil {
				return err
			}
			pass, err := f.passphrase(c.getenv)
			if err != nil {
				return err
			}
			return runBackup(cmd.Context(), e, c, to, pass)
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&to, "to", "", "the backup file to write (required; written 0600, replaced only when complete)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runBackup(ctx context.Context, e *cliEnv, c *storeConfig, to, pass string) error {
	st, err := store.OpenExisting(ctx, c.url)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer st.Close()
	var tables []store.TableData
	versions, err := st.Export(ctx, func(t store.TableData) error { tables = append(tables, t); return nil })
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	m := backup.Manifest{BerthVersion: version, Migrations: versions, CreatedAt: time.Now().UTC().Truncate(time.Second), Store: st.Kind()}
	if len(versions) > 0 {
		m.SchemaVersion = versions[len(versions)-1]
	}
	tmp := to + ".partial"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600) // #nosec G304 -- the operator's chosen backup path
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	if err := backup.Write(out, m, tables, pass); err != nil {
		_ = out.Close()
		return fmt.Errorf("backup: write %s: %w", to, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("backup: write %s: %w", to, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var rows int64
	for _, t := range tables {
		rows += int64(len(t.Rows))
	}
	enc := "not encrypted"
	if pass != "" {
		enc = "encrypted with the passphrase"
	}
	fmt.Fprintf(e.stdout, "backup: %s store, schema %d, %d tables, %d rows -> %s (%s)\n", st.Kind(), m.SchemaVersion, len(tables), rows, to, enc)
	fmt.Fprintf(e.stderr, "WARNING: secrets in this backup are sealed with berth's secret key (%s or %s). "+
		"Without that key they cannot be decrypted: keep a copy of it somewhere other than the backup.\n",
		secret.EnvKey, filepath.Join(c.dataDir, "secret.key"))
	return nil
}

func newRestoreCmd(e *cliEnv) *cobra.Command {
	var f storeFlags
	var from string
	cmd := &cobra.Command{
		Use:   "restore --from FILE",
		Short: "Restore a backup into an empty store (berth stopped)",
		Long: "Writes the backup into the store of the configuration given, which must be empty, in one transaction. " +
			"Refused when the backup comes from a newer schema than this berth knows, and when berth's secret key " +
			"does not open the backup's secrets.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.load(e)
			if err != nil {
				return err
			}
			pass, err := f.passphrase(c.getenv)
			if err != nil {
				return err
			}
			return runRestore(cmd.Context(), e, c, from, pass)
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&from, "from", "", "the backup file to read (required)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

func runRestore(ctx context.Context, e *cliEnv, c *storeConfig, from, pass string) error {
	in, err := os.Open(from) // #nosec G304 -- the operator's chosen backup file
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	m, tables, err := backup.Read(in, pass)
	if err != nil {
		return fmt.Errorf("restore %s: %w", from, err)
	}
	if err := knownSchema(m.Migrations); err != nil {
		return fmt.Errorf("restore %s (berth %s): %w", from, m.BerthVersion, err)
	}
	sealer, err := c.sealer()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	n, err := copyInto(ctx, c.url, sealer, tables)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(e.stdout, "restore: %d tables from %s (berth %s, %s, schema %d, taken %s) into %s; %d sealed values open with this key\n",
		len(tables), from, m.BerthVersion, m.Store, m.SchemaVersion, m.CreatedAt.Format(time.RFC3339), redactURL(c.url), n)
	return nil
}

// knownSchema refuses data written under migrations this berth lacks.
func knownSchema(applied []int) error {
	known := store.KnownVersions()
	var unknown []string
	for _, v := range applied {
		if !slices.Contains(known, v) {
			unknown = append(unknown, fmt.Sprintf("%04d", v))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: the data has migration %s, which this berth (schema %d) does not know: use a berth at least as new",
			store.ErrNewerSchema, strings.Join(unknown, ", "), known[len(known)-1])
	}
	return nil
}

// copyInto opens (and migrates) the store at url, checks that it is empty
// and that sealer opens every secret of tables, imports them in one
// transaction and checks the counts; it answers how many secrets opened.
func copyInto(ctx context.Context, url string, sealer *secret.Sealer, tables []store.TableData) (int, error) {
	st, err := store.Open(ctx, url, sealer)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	empty, what, err := st.Empty(ctx)
	if err != nil {
		return 0, err
	}
	if !empty {
		return 0, fmt.Errorf("%w (%s): restore only into an empty store", errNotEmpty, what)
	}
	n, err := st.CheckSecrets(ctx, tables)
	if err != nil {
		return 0, err
	}
	if err := st.Import(ctx, tables); err != nil {
		return 0, err
	}
	return n, verifyCounts(ctx, st, tables)
}

func verifyCounts(ctx context.Context, st *store.Store, tables []store.TableData) error {
	counts, err := st.Counts(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, t := range tables {
		if counts[t.Name] != int64(len(t.Rows)) {
			bad = append(bad, fmt.Sprintf("%s: %d rows, want %d", t.Name, counts[t.Name], len(t.Rows)))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("verify: %s", strings.Join(bad, "; "))
	}
	return nil
}

// redactURL drops a database URL's password.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return u
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + "@" + rest[at+1:]
}

var (
	errNotEmpty = errors.New("the target store is not empty")
	errDiffers  = errors.New("the target store already holds other data")
)

func newMigrateStoreCmd(e *cliEnv) *cobra.Command {
	var f storeFlags
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate-store --from sqlite://PATH --to postgres://…",
		Short: "Copy everything from one store to another (berth stopped), e.g. SQLite to PostgreSQL",
		Long: "Copies every table of berth's schema (read from the source's catalog) in one transaction, then checks " +
			"the row counts and that berth's secret key opens every secret. Safe to rerun: a target that already " +
			"holds exactly the source's rows is only verified; one holding anything else is refused.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.load(e)
			if err != nil {
				return err
			}
			return runMigrateStore(cmd.Context(), e, c, from, to)
		},
	}
	f.add(cmd, false)
	cmd.Flags().StringVar(&from, "from", "", "the source store: sqlite://PATH or postgres://… (required)")
	cmd.Flags().StringVar(&to, "to", "", "the target store: postgres://… or sqlite://PATH (required)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runMigrateStore(ctx context.Context, e *cliEnv, c *storeConfig, from, to string) error {
	sealer, err := c.sealer()
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	src, err := store.OpenExisting(ctx, from)
	if err != nil {
		return fmt.Errorf("migrate-store: source: %w", err)
	}
	defer src.Close()
	var tables []store.TableData
	versions, err := src.Export(ctx, func(t store.TableData) error { tables = append(tables, t); return nil })
	if err != nil {
		return fmt.Errorf("migrate-store: read source: %w", err)
	}
	if err := knownSchema(versions); err != nil {
		return fmt.Errorf("migrate-store: source: %w", err)
	}
	n, err := copyInto(ctx, to, sealer, tables)
	if errors.Is(err, errNotEmpty) {
		n, err = alreadyCopied(ctx, to, sealer, tables)
		if err == nil {
			fmt.Fprintf(e.stdout, "migrate-store: %s already holds the source's data (counts match, %d secrets open): nothing to do\n", redactURL(to), n)
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	var rows int
	for _, t := range tables {
		rows += len(t.Rows)
	}
	fmt.Fprintf(e.stdout, "migrate-store: %d tables, %d rows from %s to %s; counts verified, %d secrets open with this key\n",
		len(tables), rows, redactURL(from), redactURL(to), n)
	return nil
}

// alreadyCopied verifies a rerun's target: the same counts as the source
// and every secret opening.
func alreadyCopied(ctx context.Context, to string, sealer *secret.Sealer, tables []store.TableData) (int, error) {
	st, err := store.Open(ctx, to, sealer)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := verifyCounts(ctx, st, tables); err != nil {
		return 0, fmt.Errorf("%w (%v): migrate only into an empty store", errDiffers, err)
	}
	var mine []store.TableData
	if _, err := st.Export(ctx, func(t store.TableData) error { mine = append(mine, t); return nil }); err != nil {
		return 0, err
	}
	return st.CheckSecrets(ctx, mine)
}
