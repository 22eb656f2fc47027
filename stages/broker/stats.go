package broker

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sluicedata/sluice/stages/kafka"
	"github.com/sluicedata/sluice/stages/lifecycle"

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
	// FetchMemoryBytes, FetchIntakeBytes and FetchArchiveBytes split
	// FetchedBytes by where the batches were found: the fetch cache,
	// intake objects or archive segments in object storage.
	// FetchIntakeGets and FetchArchiveGets count the object GETs of
	// fetches, of intake and of archive objects (read-ahead included).
	FetchMemoryBytes, FetchIntakeBytes, FetchArchiveBytes int64
	FetchIntakeGets, FetchArchiveGets                     int64
	// FetchCorruptIntakeBatches and FetchCorruptArchiveBatches count the
	// batches refused (each time, retries included) because their bytes
	// in an intake object or an archive segment failed their check;
	// FetchCheckedBytes the batch bytes checked (once per cached range).
	// ArchiveCorruptRefused counts the archives of a partition the
	// lifecycle refused for a corrupt batch, leaving its intake in place.
	FetchCorruptIntakeBatches, FetchCorruptArchiveBatches int64
	FetchCheckedBytes, ArchiveCorruptRefused              int64

	// ConnsOpen and ConnsAccepted count Kafka client connections: open
	// now, and accepted since start.
	ConnsOpen, ConnsAccepted int64
	// BytesIn and BytesOut count Kafka frames from and to clients;
	// CrossZoneBytesIn and CrossZoneBytesOut the part of them exchanged
	// with clients of a known zone other than this broker's (a client's
	// zone comes from its client.id options, else its fetches' rack).
	BytesIn, BytesOut, CrossZoneBytesIn, CrossZoneBytesOut int64
	// ByZone breaks the traffic down by client zone ("" unknown).
	ByZone []kafka.ZoneTraffic
	// RequestBytesInUse is the part of queued.max.request.bytes in use
	// now; ConnCloses counts the connections closed by a limit.
	RequestBytesInUse int64
	ConnCloses        kafka.ConnCloses
}

// counters are the atomics behind Stats.
type counters struct {
	objects objinst.Counters
	meta    metainst.Counters
	// life is the lifecycle worker once started: Stats and the metrics
	// read its counters, and may run (admin requests, collections) while
	// Start is still starting it.
	life atomic.Pointer[lifecycle.Worker]
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
		s.FetchMemoryBytes, s.FetchIntakeBytes, s.FetchArchiveBytes = b.fetch.SourceBytes()
		s.FetchIntakeGets, s.FetchArchiveGets = b.fetch.SourceGets()
		s.FetchCorruptIntakeBatches, s.FetchCorruptArchiveBatches = b.fetch.CorruptBatches()
		s.FetchCheckedBytes = b.fetch.CheckedBytes()
	}
	if w := b.counters.life.Load(); w != nil {
		s.ArchiveCorruptRefused = w.Stats().CorruptRefused
	}
	if b.kafka != nil {
		s.ConnsOpen, s.ConnsAccepted = int64(b.kafka.ConnCount()), b.kafka.ConnsAccepted()
		s.ByZone = b.kafka.Traffic()
		s.RequestBytesInUse, s.ConnCloses = b.kafka.RequestBytesInUse(), b.kafka.ConnCloses()
		for _, z := range s.ByZone {
			s.BytesIn += z.In
			s.BytesOut += z.Out
			if z.Cross {
				s.CrossZoneBytesIn += z.In
				s.CrossZoneBytesOut += z.Out
			}
		}
	}
	return s
}

// registerTrafficMetrics adds sluice.kafka.client.bytes (by direction and
// client_zone) and sluice.kafka.cross_zone.bytes (by direction), read from
// the front end's counters at each collection: nothing on the hot path.
func (b *Broker) registerTrafficMetrics() error {
	m := b.tel.Meter()
	if m == nil {
		return nil
	}
	client, err := m.Int64ObservableCounter("sluice.kafka.client.bytes", metric.WithUnit("By"),
		metric.WithDescription("Kafka bytes exchanged with clients, by direction and client zone."))
	if err != nil {
		return err
	}
	cross, err := m.Int64ObservableCounter("sluice.kafka.cross_zone.bytes", metric.WithUnit("By"),
		metric.WithDescription("Kafka bytes exchanged with clients of another zone than the broker's, by direction."))
	if err != nil {
		return err
	}
	in, out := attribute.String("direction", "in"), attribute.String("direction", "out")
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		var cin, cout int64
		for _, z := range b.kafka.Traffic() {
			zone := attribute.String("client_zone", z.Zone)
			o.ObserveInt64(client, z.In, metric.WithAttributes(in, zone))
			o.ObserveInt64(client, z.Out, metric.WithAttributes(out, zone))
			if z.Cross {
				cin += z.In
				cout += z.Out
			}
		}
		o.ObserveInt64(cross, cin, metric.WithAttributes(in))
		o.ObserveInt64(cross, cout, metric.WithAttributes(out))
		return nil
	}, client, cross)
	if err != nil {
		return err
	}
	return b.registerCheckMetrics(m)
}

// registerCheckMetrics adds sluice.fetch.corrupt_batches (by source:
// intake, archive) and sluice.lifecycle.corrupt_refused, read from the
// fetcher's and the lifecycle's counters at each collection.
func (b *Broker) registerCheckMetrics(m metric.Meter) error {
	corrupt, err := m.Int64ObservableCounter("sluice.fetch.corrupt_batches", metric.WithUnit("{batch}"),
		metric.WithDescription("Batches refused because their bytes in object storage failed their check, by source (each refusal counts)."))
	if err != nil {
		return err
	}
	refused, err := m.Int64ObservableCounter("sluice.lifecycle.corrupt_refused", metric.WithUnit("{archive}"),
		metric.WithDescription("Archives of a partition refused because a batch to copy failed its check (its intake left in place)."))
	if err != nil {
		return err
	}
	intake, archive := attribute.String("source", "intake"), attribute.String("source", "archive")
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		ci, ca := b.fetch.CorruptBatches()
		o.ObserveInt64(corrupt, ci, metric.WithAttributes(intake))
		o.ObserveInt64(corrupt, ca, metric.WithAttributes(archive))
		if w := b.counters.life.Load(); w != nil {
			o.ObserveInt64(refused, w.Stats().CorruptRefused)
		}
		return nil
	}, corrupt, refused)
	return err
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
