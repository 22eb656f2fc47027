package spannermeta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

var bg = context.Background()

func openURL(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(bg, url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return s
}

// TestConformance runs the shared suite, opening through meta.Open so
// the scheme registration is exercised too.
func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, err := meta.Open(bg, migratedDatabase(t), "")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMultiProcess: three processes (like three brokers) commit to the
// same partitions of one database.
func TestMultiProcess(t *testing.T) {
	metatest.MultiProcess(t, metatest.MultiProcessOptions{Procs: 3, Goroutines: 2, Rounds: 8},
		func(t *testing.T) string { return migratedDatabase(t) },
		func(ctx context.Context, url string) (meta.Store, error) { return Open(ctx, url) })
}

func TestParseURL(t *testing.T) {
	cfg, err := parseURL("spanner://projects/p-1/instances/i/databases/d_1?auto_migrate=true&max_mutations=500&op_timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.database != "projects/p-1/instances/i/databases/d_1" || cfg.instance != "projects/p-1/instances/i" ||
		!cfg.autoMigrate || cfg.maxMutations != 500 || cfg.opTimeout != 5*time.Second {
		t.Fatalf("parsed %+v", cfg)
	}
	for _, u := range []string{
		"spanner://p/i/d",
		"spanner://projects/p/instances/i",
		"spanner://projects/p/instances/i/databases/d/x",
		"spanner://projects/p/instances/i/databases/d?nope=1",
		"spanner://projects/p/instances/i/databases/d?max_mutations=x",
		"spanner://projects/p/instances/i/databases/d?op_timeout=-1s",
	} {
		if _, err := Open(bg, u); err == nil || !strings.Contains(err.Error(), u) {
			t.Errorf("Open(%q) = %v, want an error naming the URL", u, err)
		}
	}
}

// TestOpenErrors: each misconfiguration is one clear error from Open.
func TestOpenErrors(t *testing.T) {
	emulator(t)
	ctx := bg
	check := func(what string, err error, is error, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: Open succeeded", what)
		}
		if is != nil && !errors.Is(err, is) {
			t.Errorf("%s: %v, want %v", what, err, is)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", what, err, w)
			}
		}
		t.Logf("%s: %v", what, err)
	}

	_, err := Open(ctx, "spanner://"+testInstance+"/databases/nosuchdb")
	check("missing database", err, ErrNotFound, "nosuchdb", "does not exist", "sluice migrate")

	_, err = Open(ctx, "spanner://projects/"+testProject+"/instances/nosuchinstance/databases/d")
	check("missing instance", err, ErrNotFound, "nosuchinstance", "does not exist")

	empty := newDatabase(t)
	_, err = Open(ctx, empty)
	check("no schema", err, ErrSchemaVersion, "version 0", "sluice migrate", "--auto-migrate")

	// A database migrated by a newer Sluice.
	newer := migratedDatabase(t)
	c, err := newClient(ctx, mustParse(t, newer))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(ctx, []*spanner.Mutation{spanner.Insert("SchemaMigrations",
		[]string{"Version", "Name", "AppliedAt"}, []any{SchemaVersion() + 1, "future", spanner.CommitTimestamp})})
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, newer)
	check("newer schema", err, ErrSchemaVersion, fmt.Sprintf("version %d", SchemaVersion()+1), "upgrade sluice")
	_, err = Open(ctx, newer+"?auto_migrate=true")
	check("newer schema, auto-migrate", err, ErrSchemaVersion, "upgrade sluice")
	if _, _, err := Migrate(ctx, newer); !errors.Is(err, ErrSchemaVersion) {
		t.Errorf("Migrate of a newer database: %v", err)
	}

	// Through meta.Open, as the broker opens it.
	_, err = meta.Open(ctx, "spanner://"+testInstance+"/databases/nosuchdb", "")
	check("missing database via meta.Open", err, ErrNotFound, "nosuchdb")
}

// TestUnreachable: nothing listens where SPANNER_EMULATOR_HOST points.
func TestUnreachable(t *testing.T) {
	emulator(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SPANNER_EMULATOR_HOST", fmt.Sprintf("127.0.0.1:%d", port))
	start := time.Now()
	_, err = Open(bg, "spanner://"+testInstance+"/databases/d?open_timeout=2s")
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "SPANNER_EMULATOR_HOST") {
		t.Fatalf("Open with nothing listening: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Open took %v to give up", d)
	}
	t.Log(err)
}

func mustParse(t testing.TB, url string) config {
	cfg, err := parseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMigrate: Migrate applies the schema once; auto_migrate does it at
// Open.
func TestMigrate(t *testing.T) {
	url := newDatabase(t)
	from, to, err := Migrate(bg, url)
	if err != nil || from != 0 || to != SchemaVersion() {
		t.Fatalf("Migrate = %d, %d, %v", from, to, err)
	}
	from, to, err = Migrate(bg, url)
	if err != nil || from != to || to != SchemaVersion() {
		t.Fatalf("second Migrate = %d, %d, %v", from, to, err)
	}
	openURL(t, url).Close()

	auto := newDatabase(t)
	s := openURL(t, auto+"?auto_migrate=true")
	defer s.Close()
	if _, err := s.CreateTopic(bg, "t", 1, nil); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil || len(ms) == 0 || len(ms[0].Statements) < 5 {
		t.Fatalf("migrations: %+v, %v", ms, err)
	}
}

// TestCommitTooLarge: a commit over the mutation limit fails whole.
func TestCommitTooLarge(t *testing.T) {
	url := migratedDatabase(t)
	s := openURL(t, url+"?max_mutations=200")
	defer s.Close()
	top, err := s.CreateTopic(bg, "big", 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var bs []meta.BatchCommit
	for p := range int32(20) {
		bs = append(bs, meta.BatchCommit{TP: meta.TP{Topic: top.ID, Partition: p}, Records: 1, ProducerID: -1, BaseSequence: -1, Len: 10})
	}
	_, err = s.Commit(bg, []meta.ObjectCommit{{Key: "o", Batches: bs}})
	if !errors.Is(err, ErrCommitTooLarge) || !strings.Contains(err.Error(), "360 mutations") {
		t.Fatalf("Commit of 20 partitions with max_mutations=200: %v", err)
	}
	for p := range int32(20) {
		ps, err := s.PartitionState(bg, meta.TP{Topic: top.ID, Partition: p})
		if err != nil || ps.HighWatermark != 0 {
			t.Fatalf("partition %d after refused commit: %+v %v", p, ps, err)
		}
	}
	// Half of it fits.
	if _, err := s.Commit(bg, []meta.ObjectCommit{{Key: "o", Batches: bs[:10]}}); err != nil {
		t.Fatal(err)
	}
}

// TestWatchAcrossStores: a change committed through another Store (as by
// another process) wakes a watcher by polling.
func TestWatchAcrossStores(t *testing.T) {
	url := migratedDatabase(t)
	a, b := openURL(t, url), openURL(t, url)
	defer a.Close()
	defer b.Close()
	ch := a.Groups().Watch("g")
	if err := b.Groups().UpdateGroup(bg, "g", func(tx meta.GroupTx) error {
		return tx.PutOffsets([]meta.GroupOffset{{Topic: "t", Offset: 1}})
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("an offset commit woke the watcher")
	case <-time.After(3 * meta.GroupPollInterval):
	}
	start := time.Now()
	if err := b.Groups().UpdateGroup(bg, "g", func(tx meta.GroupTx) error { return tx.PutGroup(&meta.Group{Name: "g"}) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Logf("woken %v after the commit", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("PutGroup in another store did not wake the watcher")
	}
	// Delete and re-create: same Version, new commit timestamp.
	ch = a.Groups().Watch("g")
	for _, fn := range []func(meta.GroupTx) error{
		func(tx meta.GroupTx) error { return tx.DeleteGroup() },
		func(tx meta.GroupTx) error { return tx.PutGroup(&meta.Group{Name: "g"}) },
	} {
		if err := b.Groups().UpdateGroup(bg, "g", fn); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("delete and re-create did not wake the watcher")
	}
}

// TestUpdateGroupsRepeated: a name repeated in UpdateGroups sees its own
// earlier writes (Spanner would not show buffered writes to reads).
func TestUpdateGroupsRepeated(t *testing.T) {
	s := openURL(t, migratedDatabase(t))
	defer s.Close()
	err := s.Groups().UpdateGroups(bg, []string{"g", "h", "g"}, func(i int, tx meta.GroupTx) error {
		g, err := tx.Group()
		if err != nil {
			return err
		}
		if g == nil {
			g = &meta.Group{Name: map[int]string{0: "g", 1: "h", 2: "g"}[i]}
		}
		g.Generation++
		return tx.PutGroup(g)
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Groups().ListGroups(bg)
	if err != nil || len(list) != 2 || list[0].Generation != 2 || list[0].Version != 2 || list[1].Generation != 1 {
		t.Fatalf("ListGroups = %+v, %v", list, err)
	}
}
