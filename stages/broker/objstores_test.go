package broker_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/sinks/objstore/testservers"
	"github.com/sluicedata/sluice/stages/broker"
)

// TestRoundTripOnEveryObjectStore produces and consumes through a broker on
// each object store, against real servers on 127.0.0.1: gofakes3 and
// fake-gcs-server in process, Azurite as a child process.
func TestRoundTripOnEveryObjectStore(t *testing.T) {
	const n = 2000
	stores := map[string]func(t *testing.T) string{
		"mem":  func(*testing.T) string { return "mem://" },
		"file": func(t *testing.T) string { return "file://" + t.TempDir() },
		"s3": func(t *testing.T) string {
			s := testservers.StartS3(t)
			return s.URL(s.NewBucket(t), "prefix=cluster-a")
		},
		"gcs": func(t *testing.T) string {
			s := testservers.StartGCS(t)
			return s.URL(s.NewBucket(t), "prefix=cluster-a")
		},
		"azure": func(t *testing.T) string {
			s := testservers.StartAzurite(t)
			return s.URL(s.NewContainer(t), "prefix=cluster-a")
		},
	}
	for _, name := range []string{"mem", "file", "s3", "gcs", "azure"} {
		t.Run(name, func(t *testing.T) {
			url, dir := stores[name](t), t.TempDir()
			b := startBroker(t, func(c *broker.Config) { c.Objects, c.DataDir = url, dir })
			createTopic(t, b.Addr(), "objs", 3, nil)
			cl := newClient(t, b.Addr(), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
			produced := produceAll(t, cl, "objs", n)
			checkConsumed(t, b.Addr(), "objs", produced, n)
			objects := 0
			if err := b.Objects().List(context.Background(), "", func(string, int64) bool { objects++; return true }); err != nil {
				t.Fatal(err)
			}
			if objects == 0 {
				t.Fatalf("no objects in %s", url)
			}
			if name == "mem" {
				return // a mem:// store does not outlive its broker
			}
			// A new broker on the same stores has empty caches: it reads
			// every index and byte range back from the object store.
			cl.Close()
			b.Close()
			b2 := startBroker(t, func(c *broker.Config) { c.Objects, c.DataDir = url, dir })
			checkConsumed(t, b2.Addr(), "objs", produced, n)
			if st := b2.Stats(); st.ObjectGets == 0 {
				t.Fatalf("second broker read nothing from %s", url)
			}
		})
	}
}
