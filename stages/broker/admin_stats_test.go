package broker_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sluicedata/sluice/stages/broker"
)

// TestAdminStats reads the counters over the admin address and checks
// they are the broker's own (what Broker.Stats says at the same time).
func TestAdminStats(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.AdminAddr = "127.0.0.1:0" })
	createTopic(t, b.Addr(), "stats-http", 1, nil)
	produceSome(t, b.Addr(), "stats-http", 3)
	consumeAll(t, b.Addr(), "stats-http", 3)

	want := b.Stats()
	resp, err := http.Get("http://" + b.AdminAddr() + broker.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %s, content type %q", broker.StatsPath, resp.Status, resp.Header.Get("Content-Type"))
	}
	var got broker.Stats
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.ObjectPuts < 3 || got.MetaCommits < 3 || got.ProducedBatches != 3 || got.FetchedBytes <= 0 || got.ConnsAccepted <= 0 {
		t.Fatalf("stats over HTTP %+v: want 3 produced batches, their PUTs and commits, and a fetch", got)
	}
	// Nothing ran in between but the GET itself: the store counters match.
	if got.ObjectPuts != want.ObjectPuts || got.ObjectPutBytes != want.ObjectPutBytes || got.MetaCommits != want.MetaCommits ||
		got.ProducedBytes != want.ProducedBytes || got.FetchedBytes != want.FetchedBytes {
		t.Fatalf("stats over HTTP %+v, Broker.Stats %+v", got, want)
	}
}
