package spannermeta

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
)

// Scheme is the URL scheme this backend registers.
const Scheme = "spanner"

// DefaultMaxMutations is Spanner's limit of mutations per commit.
const DefaultMaxMutations = 80000

// config is a parsed store URL.
type config struct {
	url      string // as given, for messages
	project  string
	instance string // projects/P/instances/I
	database string // projects/P/instances/I/databases/D

	autoMigrate bool
	// emulator: SPANNER_EMULATOR_HOST was set at Open.
	emulator bool
	// maxMutations bounds one Commit's mutations (Spanner's limit; the
	// tests lower it to exercise the refusal).
	maxMutations int
	// openTimeout bounds Open's checks (reachability, schema version).
	openTimeout time.Duration
	// migrateTimeout bounds a migration (DDL can take minutes on Spanner).
	migrateTimeout time.Duration
	// opTimeout bounds an operation whose context has no deadline, so
	// that the client library's retries of ABORTED transactions end.
	opTimeout time.Duration
}

var dbPath = regexp.MustCompile(`^projects/([a-z0-9.:-]+)/instances/([a-z0-9-]+)/databases/([a-z0-9_-]+)$`)

const urlForm = "spanner://projects/P/instances/I/databases/D[?auto_migrate=true&max_mutations=N&open_timeout=30s&op_timeout=60s]"

// parseURL parses spanner://projects/P/instances/I/databases/D with
// optional query parameters auto_migrate, max_mutations, open_timeout,
// migrate_timeout and op_timeout.
func parseURL(u string) (config, error) {
	cfg := config{
		url:            u,
		maxMutations:   DefaultMaxMutations,
		openTimeout:    30 * time.Second,
		migrateTimeout: 10 * time.Minute,
		opTimeout:      60 * time.Second,
	}
	rest, ok := strings.CutPrefix(u, Scheme+"://")
	if !ok {
		return cfg, fmt.Errorf("spannermeta: metadata store URL %q: want %s", u, urlForm)
	}
	p, rawQuery, _ := strings.Cut(rest, "?")
	m := dbPath.FindStringSubmatch(p)
	if m == nil {
		return cfg, fmt.Errorf("spannermeta: metadata store URL %q: want %s", u, urlForm)
	}
	cfg.emulator = os.Getenv("SPANNER_EMULATOR_HOST") != ""
	cfg.project = m[1]
	cfg.instance = "projects/" + m[1] + "/instances/" + m[2]
	cfg.database = p
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return cfg, fmt.Errorf("spannermeta: metadata store URL %q: %v", u, err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "auto_migrate":
			cfg.autoMigrate, err = strconv.ParseBool(v)
		case "max_mutations":
			cfg.maxMutations, err = strconv.Atoi(v)
			if err == nil && cfg.maxMutations < 100 {
				err = errors.New("must be at least 100")
			}
		case "open_timeout":
			cfg.openTimeout, err = parsePositive(v)
		case "migrate_timeout":
			cfg.migrateTimeout, err = parsePositive(v)
		case "op_timeout":
			cfg.opTimeout, err = parsePositive(v)
		default:
			err = errors.New("unknown parameter")
		}
		if err != nil {
			return cfg, fmt.Errorf("spannermeta: metadata store URL %q: %s=%q: %v", u, k, v, err)
		}
	}
	return cfg, nil
}

func parsePositive(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = errors.New("must be positive")
	}
	return d, err
}

// clientOptions are the options of every client the store makes. With
// SPANNER_EMULATOR_HOST set the client libraries connect to the emulator
// without credentials by themselves.
func (c config) clientOptions() []option.ClientOption { return nil }

func newClient(ctx context.Context, cfg config) (*spanner.Client, error) {
	c, err := spanner.NewClientWithConfig(ctx, cfg.database, spanner.ClientConfig{
		DisableNativeMetrics: true,
		// One broker commits from few goroutines; the defaults are
		// sized for far more.
		SessionPoolConfig: spanner.SessionPoolConfig{MinOpened: 1},
	}, cfg.clientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("spannermeta: connect to %s: %w", cfg.url, err)
	}
	return c, nil
}

// endpoint names where the client connects, for error messages.
func endpoint() string {
	if h := os.Getenv("SPANNER_EMULATOR_HOST"); h != "" {
		return "the Spanner emulator at " + h + " (SPANNER_EMULATOR_HOST)"
	}
	return "Cloud Spanner (spanner.googleapis.com)"
}

// describe turns the errors a misconfigured deployment gets at start into
// one clear message; other errors pass through unchanged.
func (c config) describe(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch spanner.ErrCode(err) {
	case codes.NotFound:
		switch {
		case strings.Contains(msg, "nstance not found"):
			return fmt.Errorf("%w: Spanner instance %s does not exist (metadata store URL %q): create it, e.g. `gcloud spanner instances create`", ErrNotFound, c.instance, c.url)
		case strings.Contains(msg, "atabase not found"):
			return fmt.Errorf("%w: Spanner database %s does not exist (metadata store URL %q): create it (`gcloud spanner databases create`), then run `sluice migrate --metadata %s`", ErrNotFound, c.database, c.url, c.url)
		}
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("spannermeta: cannot reach %s for %s: %w", endpoint(), c.url, err)
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("spannermeta: access to %s denied: %w", c.database, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("spannermeta: cannot reach %s for %s: %w", endpoint(), c.url, err)
	}
	return err
}
