// Package lifecycle runs the data lifecycle of a Sluice cluster: archive,
// retention, producer expiry and vacuum. Any broker runs it; a lease in the
// metadata store makes one broker at a time do each job, and any broker
// takes a job over when its holder's lease lapses.
//
// Archive: once a partition's unarchived intake passes a size or age
// threshold, its batches are copied (with their assigned offsets stamped)
// into per-partition segment objects, which use the intake object format
// with one partition, and listed in a new segment catalog
// (codec.EncodeCatalog) that also lists the partition's earlier segments.
// One metadata transaction (meta.Lifecycle.ReplaceEntries, a
// compare-and-swap) then replaces the partition's archive entry and the
// archived intake entries by one archive entry naming the new catalog. So
// a partition's index rows in the store are bounded by one archive entry
// plus what arrived since the last archive; older entries live in the
// catalog, in object storage.
//
//	before:  [archive: cat-1 → seg-a seg-b] [intake o7] [intake o8] [intake o9]
//	after:   [archive: cat-2 → seg-a seg-b seg-c]                   [intake o9']
//
// Archiving never deletes anything: a crash before the swap leaves the
// intake entries in place (the new segments and catalog are orphans that
// the vacuum deletes), a crash after it leaves the old objects as garbage
// that the vacuum deletes. Either way every offset stays readable and the
// next pass redoes or continues the work.
//
// Retention: retention.ms and retention.bytes of each topic advance the
// log start offset past whole entries or segments (as Kafka deletes whole
// segments), through the store's DeleteRecords, which also drops the index
// entries below it; a catalog whose oldest segments fell below the log
// start is rewritten without them.
//
// Producer expiry: the store keeps, per idempotent producer and
// partition, the producer's epoch and last sequences, to recognise its
// retries. Every new client process gets a new producer id, so the states
// of producers gone for good would pile up forever; as Kafka does after
// producer.id.expiration.ms (a broker setting, ProducerExpiration, default
// 24 h), the pass over a partition deletes the states not written for that
// long (meta.Lifecycle.ExpireProducers, which checks each state's last
// write in the deleting transaction, so a producer still writing never
// loses its state). A producer that comes back after that starts over
// like a new one: sequence 0 is accepted, any other is out of order. The
// pass remembers, per partition, the oldest last write the store kept, and
// does not ask the store again before that is an expiration old.
//
// Vacuum: mark and sweep. It collects every object key the index refers
// to (intake objects, catalogs, and the segments the catalogs list), then
// lists the bucket and deletes every object that is not referred to and is
// older than the grace period, whatever made it garbage: archived intake,
// expired data, deleted topics, superseded catalogs, or uploads whose
// commit never happened (a crash between upload and commit). Commits that
// arrive too late are refused by the store (meta.ObjectCommit.Deadline,
// set to half the grace period), so an object the sweep deletes can never
// become referred to afterwards.
package lifecycle
