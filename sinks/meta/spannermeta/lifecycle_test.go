package spannermeta

import (
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"

	"github.com/sluicedata/sluice/sinks/meta"
)

// databaseAt creates a database with schema versions 1..version only, as
// an older build would have left it, and a client to write rows as that
// build did. The client is closed with the test.
func databaseAt(t *testing.T, version int) (string, *spanner.Client) {
	t.Helper()
	url := newDatabase(t)
	cfg := mustParse(t, url)
	ms, err := migrations()
	if err != nil || len(ms) <= version {
		t.Fatalf("migrations: %+v, %v", ms, err)
	}
	admin, err := database.NewDatabaseAdminClient(bg, cfg.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	c, err := newClient(bg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, m := range ms[:version] {
		op, err := admin.UpdateDatabaseDdl(bg, &databasepb.UpdateDatabaseDdlRequest{Database: cfg.database, Statements: m.Statements})
		if err == nil {
			err = op.Wait(bg)
		}
		if err != nil {
			t.Fatalf("schema version %d: %v", m.Version, err)
		}
		if _, err := c.Apply(bg, []*spanner.Mutation{spanner.Insert("SchemaMigrations",
			[]string{"Version", "Name", "AppliedAt"}, []any{m.Version, m.Name, spanner.CommitTimestamp})}); err != nil {
			t.Fatal(err)
		}
	}
	return url, c
}

// TestMigrateKind: index entries written at schema version 2 (without
// the Kind column) read as intake entries after the upgrade to version
// 3, and can then be archived.
func TestMigrateKind(t *testing.T) {
	if ms, err := migrations(); err != nil || ms[2].Name != "lifecycle" {
		t.Fatalf("migrations: %+v, %v", ms, err)
	}
	url, c := databaseAt(t, 2)
	// A topic with two entries, written with version 2's columns.
	var id meta.TopicID
	id[0], id[15] = 7, 9
	old := []*spanner.Mutation{
		spanner.Insert("Topics", topicCols, []any{id[:], "t", int64(1), "{}", time.Now().UTC()}),
		spanner.Insert("Partitions", partitionCols, []any{id[:], int64(0), int64(0), int64(10), int64(5), int64(9)}),
	}
	v2Cols := entryCols[:len(entryCols)-1]
	for i, key := range []string{"a", "b"} {
		old = append(old, spanner.Insert("IndexEntries", v2Cols, []any{id[:], int64(0), int64(5*i + 4), int64(5 * i),
			int64(5), key, int64(100), int64(90), int64(10), int64(0), int64(0), int64(50)}))
	}
	if _, err := c.Apply(bg, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bg, url); err == nil {
		t.Fatal("Open of a version 2 database succeeded")
	}

	s := openURL(t, url+"?auto_migrate=true")
	defer s.Close()
	tp := meta.TP{Topic: id}
	es, err := s.Entries(bg, tp, 0, 0)
	if err != nil || len(es) != 2 || es[0].Kind != meta.EntryIntake || es[1].Kind != meta.EntryIntake ||
		es[0].ObjectKey != "a" || es[1].LastOffset != 9 {
		t.Fatalf("entries after migration: %+v, %v", es, err)
	}
	arch := es[0]
	arch.LastOffset, arch.ObjectKey, arch.Kind, arch.ByteEnd = 9, "cat", meta.EntryArchive, 100
	if err := s.Lifecycle().ReplaceEntries(bg, tp, es, []meta.IndexEntry{arch}); err != nil {
		t.Fatal(err)
	}
	if es, err := s.Entries(bg, tp, 0, 0); err != nil || len(es) != 1 || es[0] != arch {
		t.Fatalf("entries after archiving: %+v, %v", es, err)
	}
}

// TestReplaceEntriesTooLarge: a replacement over the mutation limit fails
// whole.
func TestReplaceEntriesTooLarge(t *testing.T) {
	s := openURL(t, migratedDatabase(t)+"?max_mutations=100")
	defer s.Close()
	top, err := s.CreateTopic(bg, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := meta.TP{Topic: top.ID}
	for range 8 {
		if _, err := s.Commit(bg, []meta.ObjectCommit{{Key: "o", Batches: []meta.BatchCommit{
			{TP: tp, Records: 2, ProducerID: -1, BaseSequence: -1, Len: 10}}}}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.Entries(bg, tp, 0, 0)
	if err != nil || len(es) != 8 {
		t.Fatalf("entries: %+v, %v", es, err)
	}
	// 8 deletes and 8 inserts of 13 columns: 112 mutations.
	repl := append([]meta.IndexEntry(nil), es...)
	for i := range repl {
		repl[i].ObjectKey = "moved"
	}
	if err := s.Lifecycle().ReplaceEntries(bg, tp, es, repl); err == nil {
		t.Fatal("ReplaceEntries over the mutation limit succeeded")
	} else {
		t.Log(err)
	}
	if got, err := s.Entries(bg, tp, 0, 0); err != nil || len(got) != 8 || got[0] != es[0] {
		t.Fatalf("entries after the refused replace: %+v, %v", got, err)
	}
}

// TestMigrateProducerExpiry: a producer state written at schema version 3
// (without LastWrite) reads with a zero LastWrite after the upgrade to
// version 4; the first ExpireProducers stamps it with the commit
// timestamp instead of deleting it, and a later one deletes it.
func TestMigrateProducerExpiry(t *testing.T) {
	if ms, err := migrations(); err != nil || ms[3].Name != "producer_expiry" {
		t.Fatalf("migrations: %+v, %v", ms, err)
	}
	url, c := databaseAt(t, 3)
	var id meta.TopicID
	id[0], id[15] = 8, 1
	const pid = 1000
	v3Cols := producerCols[:len(producerCols)-1]
	if _, err := c.Apply(bg, []*spanner.Mutation{
		spanner.Insert("Topics", topicCols, []any{id[:], "t", int64(1), "{}", time.Now().UTC()}),
		spanner.Insert("Partitions", partitionCols, []any{id[:], int64(0), int64(0), int64(5), int64(5), int64(4)}),
		spanner.Insert("ProducerStates", v3Cols, []any{id[:], int64(0), int64(pid), int64(0), []int64{0, 4, 0}}),
	}); err != nil {
		t.Fatal(err)
	}
	s := openURL(t, url+"?auto_migrate=true")
	defer s.Close()
	tp := meta.TP{Topic: id}
	st, ok, err := s.ProducerState(bg, pid, tp)
	if err != nil || !ok || !st.LastWrite.IsZero() || len(st.Recent) != 1 {
		t.Fatalf("version 3 state after migration: %+v, ok %v, %v", st, ok, err)
	}

	before := time.Now().Add(-time.Second) // the emulator's clock is this machine's
	res, err := s.Lifecycle().ExpireProducers(bg, tp, time.Now().Add(time.Hour))
	if err != nil || res.Removed != 0 || res.Stamped != 1 || res.More {
		t.Fatalf("first expiry = %+v, %v; want the state stamped", res, err)
	}
	st, ok, err = s.ProducerState(bg, pid, tp)
	if err != nil || !ok || st.LastWrite.Before(before) || st.LastWrite.After(time.Now().Add(time.Second)) || len(st.Recent) != 1 {
		t.Fatalf("stamped state: %+v, ok %v, %v", st, ok, err)
	}
	if !res.KeptSince.Before(st.LastWrite.Add(time.Second)) {
		t.Fatalf("KeptSince %v well after the stamp %v", res.KeptSince, st.LastWrite)
	}
	// Its retry is still recognised.
	r, err := s.Commit(bg, []meta.ObjectCommit{{Key: "o", Batches: []meta.BatchCommit{{TP: tp, Records: 5, ProducerID: pid, BaseSequence: 0}}}})
	if err != nil || !r[0][0].Duplicate {
		t.Fatalf("retry after the stamp = %+v, %v", r, err)
	}
	res, err = s.Lifecycle().ExpireProducers(bg, tp, time.Now().Add(time.Hour))
	if err != nil || res.Removed != 1 || res.Stamped != 0 || res.More {
		t.Fatalf("second expiry = %+v, %v; want the state removed", res, err)
	}
	if _, ok, err := s.ProducerState(bg, pid, tp); ok || err != nil {
		t.Fatalf("state after expiry: ok %v, %v", ok, err)
	}
}

// TestExpireProducersMore: more idle states than one transaction may
// delete under max_mutations are deleted over several calls, each
// reporting More until none is left.
func TestExpireProducersMore(t *testing.T) {
	url := migratedDatabase(t)
	w := openURL(t, url)
	defer w.Close()
	top, err := w.CreateTopic(bg, "t", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := meta.TP{Topic: top.ID}
	const producers = 60
	oc := meta.ObjectCommit{Key: "o"}
	for pid := int64(1000); pid < 1000+producers; pid++ {
		oc.Batches = append(oc.Batches, meta.BatchCommit{TP: tp, Records: 1, ProducerID: pid, BaseSequence: 0, Len: 10})
	}
	if _, err := w.Commit(bg, []meta.ObjectCommit{oc}); err != nil {
		t.Fatal(err)
	}
	// 100 mutations (the least allowed): 25 states per transaction at a
	// stamp's cost.
	s := openURL(t, url+"?max_mutations=100")
	defer s.Close()
	var calls, removed int
	for more := true; more; calls++ {
		res, err := s.Lifecycle().ExpireProducers(bg, tp, time.Now().Add(time.Hour))
		if err != nil || res.Stamped != 0 || res.Removed > 25 {
			t.Fatalf("call %d: %+v, %v", calls, res, err)
		}
		removed += res.Removed
		more = res.More
		if calls > producers {
			t.Fatal("ExpireProducers keeps reporting More")
		}
	}
	if removed != producers || calls != 3 {
		t.Fatalf("%d states removed in %d calls, want %d in 3", removed, calls, producers)
	}
	for pid := int64(1000); pid < 1000+producers; pid++ {
		if _, ok, err := s.ProducerState(bg, pid, tp); ok || err != nil {
			t.Fatalf("producer %d: state left (ok %v, %v)", pid, ok, err)
		}
	}
}
