package spannermeta

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"
	"google.golang.org/grpc/codes"
)

//go:embed schema/*.sql
var schemaFS embed.FS

// migration is one versioned schema file: schema/NNNN_name.sql.
type migration struct {
	Version    int64
	Name       string
	Statements []string
}

// migrations returns the embedded schema files in version order. Their
// names must be NNNN_name.sql with versions 1, 2, 3… without gaps.
func migrations() ([]migration, error) {
	files, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := path.Base(f)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("spannermeta: schema file %s: want NNNN_name.sql", base)
		}
		b, err := schemaFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{Version: v, Name: name, Statements: splitStatements(string(b))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("spannermeta: schema versions not 1..n without gaps (found %d at position %d)", m.Version, i+1)
		}
	}
	return out, nil
}

// splitStatements drops "--" comments and splits on semicolons (the DDL
// has no string literals containing either).
func splitStatements(s string) []string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for st := range strings.SplitSeq(b.String(), ";") {
		if st = strings.TrimSpace(st); st != "" {
			out = append(out, st)
		}
	}
	return out
}

// SchemaVersion is the schema version this build reads and writes: the
// highest embedded schema file.
func SchemaVersion() int64 {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// ErrSchemaVersion is returned (wrapped, with the versions and what to
// do) when the database's schema is not the one this build expects.
var ErrSchemaVersion = errors.New("spannermeta: schema version mismatch")

// ErrNotFound is returned (wrapped) when the instance or database named by
// the URL does not exist.
var ErrNotFound = errors.New("spannermeta: not found")

// currentVersion returns the highest applied schema version, 0 for a
// database without the SchemaMigrations table (empty, never migrated).
func currentVersion(ctx context.Context, c *spanner.Client) (int64, error) {
	// Strong read: the version decides whether this build may touch the
	// data at all.
	stmt := spanner.Statement{SQL: `SELECT t.TABLE_NAME FROM INFORMATION_SCHEMA.TABLES AS t
		WHERE t.TABLE_SCHEMA = '' AND t.TABLE_NAME = 'SchemaMigrations'`}
	found := false
	if err := c.Single().Query(ctx, stmt).Do(func(*spanner.Row) error { found = true; return nil }); err != nil {
		return 0, err
	}
	if !found {
		return 0, nil
	}
	var v spanner.NullInt64
	err := c.Single().Query(ctx, spanner.Statement{SQL: `SELECT MAX(Version) FROM SchemaMigrations`}).Do(func(r *spanner.Row) error {
		return r.Columns(&v)
	})
	if err != nil {
		return 0, err
	}
	return v.Int64, nil
}

// checkVersion compares the database's schema version with this build's.
func checkVersion(have, want int64, url string) error {
	switch {
	case have == want:
		return nil
	case have == 0:
		return fmt.Errorf("%w: database %s has no Sluice schema (version 0, this build needs %d): run `sluice migrate --metadata %s` or start the broker with --auto-migrate", ErrSchemaVersion, url, want, url)
	case have < want:
		return fmt.Errorf("%w: database %s is at schema version %d, this build needs %d: run `sluice migrate --metadata %s` or start the broker with --auto-migrate", ErrSchemaVersion, url, have, want, url)
	default:
		return fmt.Errorf("%w: database %s is at schema version %d, newer than this build's %d: upgrade sluice (a newer broker migrated it)", ErrSchemaVersion, url, have, want)
	}
}

// Migrate applies the embedded schema files the database at url
// (spanner://projects/P/instances/I/databases/D) lacks, in order, and
// returns the versions it was at and is now at. The database must exist.
// Each version's DDL is one UpdateDatabaseDdl operation; its row in
// SchemaMigrations is written after the DDL succeeded, so a migration
// interrupted half way is detected (the next run fails on "already
// exists" and says so) rather than silently skipped. A database newer
// than this build is an error. Several migrators racing is safe: Spanner
// serializes schema changes and the loser fails on "already exists".
func Migrate(ctx context.Context, url string) (from, to int64, err error) {
	cfg, err := parseURL(url)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.migrateTimeout)
	defer cancel()
	c, err := newClient(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	return migrate(ctx, c, cfg)
}

func migrate(ctx context.Context, c *spanner.Client, cfg config) (from, to int64, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	have, err := currentVersion(ctx, c)
	if err != nil {
		return 0, 0, cfg.describe(err)
	}
	want := ms[len(ms)-1].Version
	if have > want {
		return have, have, checkVersion(have, want, cfg.url)
	}
	if have == want {
		return have, have, nil
	}
	admin, err := database.NewDatabaseAdminClient(ctx, cfg.clientOptions()...)
	if err != nil {
		return have, have, fmt.Errorf("spannermeta: admin client: %w", err)
	}
	defer admin.Close()
	cur := have
	for _, m := range ms[have:] {
		op, err := admin.UpdateDatabaseDdl(ctx, &databasepb.UpdateDatabaseDdlRequest{
			Database:   cfg.database,
			Statements: m.Statements,
		})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil {
			return have, cur, fmt.Errorf("spannermeta: migrate %s to schema version %d (%s): %w", cfg.url, m.Version, m.Name, cfg.describe(err))
		}
		_, err = c.Apply(ctx, []*spanner.Mutation{spanner.Insert("SchemaMigrations",
			[]string{"Version", "Name", "AppliedAt"},
			[]any{m.Version, m.Name, spanner.CommitTimestamp})})
		if err != nil && spanner.ErrCode(err) != codes.AlreadyExists {
			return have, cur, fmt.Errorf("spannermeta: record schema version %d: %w", m.Version, cfg.describe(err))
		}
		cur = m.Version
	}
	return have, cur, nil
}
