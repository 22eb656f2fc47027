package bench

import (
	"reflect"

	"github.com/sluicedata/sluice/stages/broker"
)

// Counters are a broker's cumulative store operation counts, the inputs
// of Cost. Their names match the fields of stages/broker.Stats.
type Counters struct {
	ObjectPuts      int64 `json:"object_puts"`
	ObjectPutBytes  int64 `json:"object_put_bytes"`
	ObjectGets      int64 `json:"object_gets"`
	ObjectGetBytes  int64 `json:"object_get_bytes"`
	ObjectDeletes   int64 `json:"object_deletes"`
	MetaCommits     int64 `json:"meta_commits"`
	MetaWrites      int64 `json:"meta_writes"`
	MetaReads       int64 `json:"meta_reads"`
	ProducedBatches int64 `json:"produced_batches"`
	ProducedBytes   int64 `json:"produced_bytes"`
	FetchedBytes    int64 `json:"fetched_bytes"`
}

func (c Counters) sub(o Counters) Counters {
	a, b := reflect.ValueOf(&c).Elem(), reflect.ValueOf(o)
	for i := range a.NumField() {
		a.Field(i).SetInt(a.Field(i).Int() - b.Field(i).Int())
	}
	return c
}

// CounterSource reads a broker's counters; Name says where they come from.
type CounterSource struct {
	Name string
	Read func() (Counters, error)
}

// Cost is what a run cost in object store and metadata store operations:
// the counters' change over the measured window, per second and per GiB
// the producers had acknowledged in the window (for a catch-up read, per
// GiB of backlog).
type Cost struct {
	Source string `json:"source"`
	// Delta is the change of the counters over the window.
	Delta   Counters `json:"delta"`
	Seconds float64  `json:"seconds"`
	// GiB is the produced data the per-GiB figures divide by.
	GiB float64 `json:"gib"`
	// MetaTxns are metadata write transactions: commits plus other
	// writes (topic changes, producer ids).
	MetaTxns int64 `json:"meta_txns"`

	PutsPerSec     float64 `json:"puts_per_sec"`
	GetsPerSec     float64 `json:"gets_per_sec"`
	MetaTxnsPerSec float64 `json:"meta_txns_per_sec"`
	MetaReadsPerS  float64 `json:"meta_reads_per_sec"`

	PutsPerGiB     float64 `json:"puts_per_gib"`
	PutBytesPerGiB float64 `json:"put_bytes_per_gib"`
	GetsPerGiB     float64 `json:"gets_per_gib"`
	GetBytesPerGiB float64 `json:"get_bytes_per_gib"`
	MetaTxnsPerGiB float64 `json:"meta_txns_per_gib"`
	MetaReadsPerGB float64 `json:"meta_reads_per_gib"`
}

func newCost(source string, d Counters, secs float64, producedBytes int64) *Cost {
	c := &Cost{Source: source, Delta: d, Seconds: secs, GiB: float64(producedBytes) / (1 << 30)}
	c.MetaTxns = d.MetaCommits + d.MetaWrites
	per := func(v int64, by float64) float64 {
		if by <= 0 {
			return 0
		}
		return float64(v) / by
	}
	c.PutsPerSec, c.GetsPerSec = per(d.ObjectPuts, secs), per(d.ObjectGets, secs)
	c.MetaTxnsPerSec, c.MetaReadsPerS = per(c.MetaTxns, secs), per(d.MetaReads, secs)
	c.PutsPerGiB, c.PutBytesPerGiB = per(d.ObjectPuts, c.GiB), per(d.ObjectPutBytes, c.GiB)
	c.GetsPerGiB, c.GetBytesPerGiB = per(d.ObjectGets, c.GiB), per(d.ObjectGetBytes, c.GiB)
	c.MetaTxnsPerGiB, c.MetaReadsPerGB = per(c.MetaTxns, c.GiB), per(d.MetaReads, c.GiB)
	return c
}

// brokerCounters reads an in-process Sluice's broker.Stats.
func brokerCounters(b *broker.Broker) *CounterSource {
	return &CounterSource{Name: "broker.Stats", Read: func() (Counters, error) { return countersOf(b.Stats()), nil }}
}

// countersOf picks the cost inputs out of a broker's Stats.
func countersOf(s broker.Stats) Counters {
	return Counters{
		ObjectPuts: s.ObjectPuts, ObjectPutBytes: s.ObjectPutBytes, ObjectGets: s.ObjectGets,
		ObjectGetBytes: s.ObjectGetBytes, ObjectDeletes: s.ObjectDeletes,
		MetaCommits: s.MetaCommits, MetaWrites: s.MetaWrites, MetaReads: s.MetaReads,
		ProducedBatches: s.ProducedBatches, ProducedBytes: s.ProducedBytes, FetchedBytes: s.FetchedBytes,
	}
}
