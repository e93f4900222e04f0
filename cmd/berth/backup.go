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
	// Written beside the target (same directory, so the rename is atomic)
	// and renamed only once complete.
	out, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	tmp := out.Name()
	defer os.Remove(tmp)
	var m backup.Manifest
	var counts map[string]int64
	err = st.Export(ctx, func(versions []int, tables store.Source) error {
		m = backup.Manifest{BerthVersion: version, Migrations: versions, CreatedAt: time.Now().UTC().Truncate(time.Second), Store: st.Kind()}
		if len(versions) > 0 {
			m.SchemaVersion = versions[len(versions)-1]
		}
		var err error
		counts, err = backup.Write(out, m, tables, pass)
		return err
	})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", to, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var rows int64
	for _, n := range counts {
		rows += n
	}
	enc := "not encrypted"
	if pass != "" {
		enc = "encrypted with the passphrase"
	}
	fmt.Fprintf(e.stdout, "backup: %s store, schema %d, %d tables, %d rows -> %s (%s)\n", st.Kind(), m.SchemaVersion, len(counts), rows, to, enc)
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
	r, err := backup.Open(in, pass)
	if err != nil {
		return fmt.Errorf("restore %s: %w", from, err)
	}
	m := r.Manifest
	if err := knownSchema(m.Migrations); err != nil {
		return fmt.Errorf("restore %s (berth %s): %w", from, m.BerthVersion, err)
	}
	sealer, err := c.sealer()
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The file streams into the store's transaction; its trailer's counts
	// are checked before the commit (Tables fails otherwise).
	res, err := copyInto(ctx, c.url, sealer, r.Tables)
	if err != nil {
		return fmt.Errorf("restore %s: %w", from, err)
	}
	fmt.Fprintf(e.stdout, "restore: %d tables from %s (berth %s, %s, schema %d, taken %s) into %s; %d sealed values open with this key\n",
		len(res.Rows), from, m.BerthVersion, m.Store, m.SchemaVersion, m.CreatedAt.Format(time.RFC3339), redactURL(c.url), res.Secrets)
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

// copyInto opens (and migrates) the store at url, checks that it is empty,
// imports the tables of src in one transaction as they stream (every
// secret must open with sealer, checked as the rows pass) and checks the
// counts against the rows imported.
func copyInto(ctx context.Context, url string, sealer *secret.Sealer, src store.Source) (store.Imported, error) {
	st, err := store.Open(ctx, url, sealer)
	if err != nil {
		return store.Imported{}, err
	}
	defer st.Close()
	empty, what, err := st.Empty(ctx)
	if err != nil {
		return store.Imported{}, err
	}
	if !empty {
		return store.Imported{}, fmt.Errorf("%w (%s): restore only into an empty store", errNotEmpty, what)
	}
	res, err := st.Import(ctx, src)
	if err != nil {
		return res, err
	}
	return res, verifyCounts(ctx, st, res.Rows)
}

func verifyCounts(ctx context.Context, st *store.Store, want map[string]int64) error {
	counts, err := st.Counts(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for name, n := range want {
		if counts[name] != n {
			bad = append(bad, fmt.Sprintf("%s: %d rows, want %d", name, counts[name], n))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
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
	// The source's snapshot streams straight into the target's transaction.
	var res store.Imported
	err = src.Export(ctx, func(versions []int, tables store.Source) error {
		if err := knownSchema(versions); err != nil {
			return fmt.Errorf("source: %w", err)
		}
		var err error
		res, err = copyInto(ctx, to, sealer, tables)
		return err
	})
	if errors.Is(err, errNotEmpty) {
		n, err := alreadyCopied(ctx, src, to, sealer)
		if err == nil {
			fmt.Fprintf(e.stdout, "migrate-store: %s already holds the source's data (counts match, %d secrets open): nothing to do\n", redactURL(to), n)
			return nil
		}
		return fmt.Errorf("migrate-store: %w", err)
	}
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	var rows int64
	for _, n := range res.Rows {
		rows += n
	}
	fmt.Fprintf(e.stdout, "migrate-store: %d tables, %d rows from %s to %s; counts verified, %d secrets open with this key\n",
		len(res.Rows), rows, redactURL(from), redactURL(to), res.Secrets)
	return nil
}

// alreadyCopied verifies a rerun's target: the same counts as the source
// and every secret opening.
func alreadyCopied(ctx context.Context, src *store.Store, to string, sealer *secret.Sealer) (int, error) {
	want, err := src.Counts(ctx)
	if err != nil {
		return 0, err
	}
	st, err := store.Open(ctx, to, sealer)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := verifyCounts(ctx, st, want); err != nil {
		return 0, fmt.Errorf("%w (%v): migrate only into an empty store", errDiffers, err)
	}
	n := 0
	err = st.Export(ctx, func(_ []int, tables store.Source) error {
		var err error
		n, err = st.CheckSecrets(ctx, tables)
		return err
	})
	return n, err
}
