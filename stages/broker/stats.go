package broker

import (
	"fmt"

	metainst "github.com/sluicedata/sluice/sinks/meta/instrumented"
	objinst "github.com/sluicedata/sluice/sinks/objstore/instrumented"
)

// Stats are the broker's always-on counters since it started: object and
// metadata store calls (counted by the wrappers Start installs around the
// stores, whatever the telemetry settings) and the bytes produced and
// fetched.
type Stats struct {
	// Object store: Put calls and the bytes put, GetRange calls and the
	// bytes returned, Delete calls.
	ObjectPuts, ObjectPutBytes, ObjectGets, ObjectGetBytes, ObjectDeletes int64
	// Metadata store: Commit calls (one transaction each), other mutating
	// calls, and reads.
	MetaCommits, MetaWrites, MetaReads int64
	// ProducedBatches and ProducedBytes count the record batches committed
	// and acknowledged (idempotent duplicates left out); FetchedBytes the
	// record bytes fetches returned.
	ProducedBatches, ProducedBytes, FetchedBytes int64
}

// counters are the atomics behind Stats.
type counters struct {
	objects objinst.Counters
	meta    metainst.Counters
}

// Stats returns the counters.
func (b *Broker) Stats() Stats {
	o, m := &b.counters.objects, &b.counters.meta
	s := Stats{
		ObjectPuts: o.Puts.Load(), ObjectPutBytes: o.PutBytes.Load(),
		ObjectGets: o.Gets.Load(), ObjectGetBytes: o.GetBytes.Load(),
		ObjectDeletes: o.Deletes.Load(),
		MetaCommits:   m.Commits.Load(), MetaWrites: m.Writes.Load(), MetaReads: m.Reads.Load(),
	}
	if b.produce != nil {
		s.ProducedBatches, s.ProducedBytes = b.produce.Produced()
	}
	if b.fetch != nil {
		s.FetchedBytes = b.fetch.FetchedBytes()
	}
	return s
}

// instrumentStores wraps the opened stores with the counting (and, with
// metrics on, measuring) wrappers. On error the raw stores stay in place,
// for closeStores.
func (b *Broker) instrumentStores() error {
	objects, err := objinst.New(b.objects, &b.counters.objects, b.tel.Meter())
	if err != nil {
		return fmt.Errorf("object store metrics: %w", err)
	}
	ms, err := metainst.New(b.meta, &b.counters.meta, b.tel.Meter())
	if err != nil {
		return fmt.Errorf("metadata store metrics: %w", err)
	}
	b.objects, b.meta = objects, ms
	return nil
}
