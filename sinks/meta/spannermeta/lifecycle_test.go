package spannermeta

import (
	"testing"
	"time"

	"cloud.google.com/go/spanner"
	database "cloud.google.com/go/spanner/admin/database/apiv1"
	"cloud.google.com/go/spanner/admin/database/apiv1/databasepb"

	"github.com/sluicedata/sluice/sinks/meta"
)

// TestMigrateKind: index entries written at schema version 2 (without
// the Kind column) read as intake entries after the upgrade to version
// 3, and can then be archived.
func TestMigrateKind(t *testing.T) {
	url := newDatabase(t)
	cfg := mustParse(t, url)
	ms, err := migrations()
	if err != nil || len(ms) < 3 || ms[2].Name != "lifecycle" {
		t.Fatalf("migrations: %+v, %v", ms, err)
	}
	// Apply versions 1 and 2 only, as an older build would have.
	admin, err := database.NewDatabaseAdminClient(bg, cfg.clientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	c, err := newClient(bg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range ms[:2] {
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
