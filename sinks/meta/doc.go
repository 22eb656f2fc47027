// Package meta defines Sluice's transactional metadata store (Store): the
// only place offsets are assigned, and where topics, partition states, the
// offset index and idempotent-producer state live. Open opens one from a
// URL.
//
// The semantics all implementations share, beyond the method comments:
//
//   - ClusterID is a random UUID created on first use and kept forever.
//   - CreateTopic gives the topic a random (v4, so never zero) TopicID;
//     partitions < 1 is ErrInvalidPartitions, an existing name
//     ErrTopicExists. Topic and config validation is the caller's job.
//     Topics returns topics sorted by name. DeleteTopic also removes the
//     topic's partition states, index entries and producer states (the
//     objects holding its data are the garbage collector's business).
//   - A fresh partition has LogStart 0, HighWatermark 0, MaxTimestamp -1
//     and MaxTimestampOffset -1. A partition >= the topic's partition count,
//     or of an unknown topic, is ErrUnknownTopicOrPartition.
//   - Commit runs in one transaction. Batches of unknown partitions fail
//     with ErrUnknownTopicOrPartition. Idempotent batches (ProducerID >= 0
//     and BaseSequence >= 0) are checked against the stored ProducerState,
//     including batches accepted earlier in the same call: an epoch below
//     the one registered by BumpProducerEpoch or below the state's is
//     ErrInvalidProducerEpoch; a new epoch must start at sequence 0; in the
//     same epoch a batch matching a remembered one (FirstSeq and LastSeq)
//     is a Duplicate and gets its original BaseOffset, otherwise it must
//     continue the last sequence (sequences wrap from MaxInt32 to 0) or it
//     is ErrOutOfOrderSequence. Accepted batches take offsets from the
//     high watermark in order. Per object and partition, each maximal run of
//     consecutive accepted batches becomes one IndexEntry. Failed batches
//     report BaseOffset -1; batches of unknown partitions also LogStart -1.
//   - A store may bound what one Commit writes (CommitLimiter,
//     CommitLimits): a Commit over the bound fails whole with
//     ErrCommitTooLarge. Callers size their commits with CommitCost, an
//     upper bound of the store's exact count.
//   - Entries with limit <= 0 returns all entries from `from` on. Entries
//     does not hide entries below the log start (readers compare with
//     PartitionState.LogStart); DeleteRecords does not delete entries.
//   - NextProducerID counts up from 1000 and never reuses an id, even
//     across restarts. BumpProducerEpoch treats a producer that was never
//     bumped as being at epoch 0.
//   - Every commit that writes a producer state records its time
//     (ProducerState.LastWrite). Lifecycle.ExpireProducers deletes a
//     partition's states last written before a limit (Kafka's
//     producer.id.expiration.ms); epochs registered by BumpProducerEpoch
//     are not partition state and stay.
//   - After Close, every method returns ErrClosed.
//
// Implementations live in subpackages, which import this one for its
// types; so, to avoid an import cycle, Open dispatches to backends that
// registered themselves (Register) from their init functions, as
// database/sql drivers do. kvmeta implements Store once over an ordered
// transactional key-value interface; boltmeta (bbolt, the default) and
// memmeta (in memory) are its two backends. A program that calls Open
// must link the backends it wants:
//
//	import _ "github.com/sluicedata/sluice/sinks/meta/boltmeta"
//	import _ "github.com/sluicedata/sluice/sinks/meta/memmeta"
//
// The conformance suite every implementation runs is metatest.
package meta
