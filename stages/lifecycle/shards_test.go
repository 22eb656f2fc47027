package lifecycle

import (
	"context"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	_ "github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/stages/fetch"
)

// Brokers share the archive shards: disjoint, covering all of them, about
// evenly; when one leaves the rest take its shards, when one joins the
// others give some back.
func TestClaimShards(t *testing.T) {
	ctx := context.Background()
	ms := memmeta.New()
	defer ms.Close()
	objs, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	live := 3
	newWorker := func(name string) *Worker {
		w, err := New(Config{Meta: ms, Objects: objs, Fetcher: fetch.New(fetch.Config{Meta: ms, Objects: objs}),
			Holder: name, ArchiveShards: 16, Brokers: func() int { return live }})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	ws := []*Worker{newWorker("a"), newWorker("b"), newWorker("c")}
	claim := func(ws []*Worker) []map[int]bool {
		t.Helper()
		out := make([]map[int]bool, len(ws))
		// Two rounds: shards given back in the first are taken in the
		// second, as over two passes.
		for range 2 {
			for i, w := range ws {
				w.runMu.Lock()
				out[i], err = w.claimShards(ctx)
				w.runMu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		return out
	}
	check := func(what string, got []map[int]bool) {
		t.Helper()
		owner := map[int]int{}
		share := (16 + len(got) - 1) / len(got)
		for i, held := range got {
			if len(held) > share || len(held) < 16/len(got)-1 {
				t.Fatalf("%s: worker %d holds %d shards, share %d", what, i, len(held), share)
			}
			for s := range held {
				if j, dup := owner[s]; dup {
					t.Fatalf("%s: shard %d held by workers %d and %d", what, s, j, i)
				}
				owner[s] = i
			}
		}
		if len(owner) != 16 {
			t.Fatalf("%s: %d of 16 shards held: %v", what, len(owner), got)
		}
	}
	check("three brokers", claim(ws))

	// c stops: a and b take its shards.
	ws[2].Close()
	live = 2
	check("two brokers", claim(ws[:2]))

	// d joins: a and b give shards back, d takes them.
	live = 3
	ws = append(ws[:2], newWorker("d"))
	check("three again", claim(ws))

	// Every partition of a topic maps into a shard, consecutive ones to
	// consecutive shards.
	tp := meta.TP{Topic: meta.TopicID{9}, Partition: 0}
	first := shardOf(tp, 16)
	for p := int32(0); p < 40; p++ {
		tp.Partition = p
		if got, want := shardOf(tp, 16), (first+int(p))%16; got != want {
			t.Fatalf("partition %d in shard %d, want %d", p, got, want)
		}
	}
}
