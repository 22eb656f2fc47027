// Package spannermeta implements meta.Store (and meta.Groups) on Cloud
// Spanner, so that any number of brokers in any number of processes share
// one metadata store. It registers the "spanner" scheme:
//
//	--metadata spanner://projects/P/instances/I/databases/D
//
// with optional query parameters: auto_migrate=true (apply missing schema
// versions at Open; the broker's --auto-migrate sets it), max_mutations=N
// (default 80000, Spanner's per-commit limit), open_timeout (default 30s),
// migrate_timeout (10m) and op_timeout (60s: the deadline given to an
// operation whose context has none, which bounds the client library's
// retries of ABORTED transactions). With SPANNER_EMULATOR_HOST set the
// client connects to the emulator without credentials; otherwise it uses
// Application Default Credentials.
//
// # Schema
//
// The DDL lives in schema/NNNN_name.sql, embedded in the binary. Migrate
// (`sluice migrate`) applies the versions a database lacks and records
// each in SchemaMigrations; Open refuses a database whose version is not
// SchemaVersion() with ErrSchemaVersion, saying whether to migrate or to
// upgrade Sluice. A missing instance or database is ErrNotFound, an
// unreachable endpoint an error naming it; each is one message.
//
// Key design, against hot spots: Topics is keyed by the topic's random v4
// UUID, so topics scatter over the key space and hence over splits.
// Partitions, IndexEntries and ProducerStates are interleaved under
// Topics (key prefix TopicId, PartitionId), so one partition's state, index
// and producers are co-located and a commit's reads and writes for a
// partition touch one split. Spanner splits between partitions of a
// busy topic by load, and distinct topics are already apart. IndexEntries
// keys do grow (LastOffset), but only within one partition, whose commits
// are serialized by its Partitions row whatever the layout: there is no
// table-wide monotonically increasing leading key. ProducerEpochs is keyed
// by the bit-reversed producer id, since ids are handed out in sequence.
// ConsumerGroups and GroupOffsets lead with the group name. Brokers (the
// broker registry, schema version 2) is keyed by broker name: one row
// per broker, read whole. Leases (schema version 3) is keyed by lease
// name: a handful of rows, each read by key. Transactions (schema
// version 5) is keyed by transactional id: one row per id, the record as
// JSON, read by key and, for ListTransactions, whole. The cluster id and the
// producer-id counter share the one Cluster row (cold paths).
//
// IndexEntries.Kind (schema version 3, NOT NULL DEFAULT 0) is the
// entry's meta.EntryKind: 0 an intake object, 1 the partition's archive.
// Rows written before version 3 read as 0, which they are.
// ProducerStates.LastWrite (schema version 4, nullable, commit timestamp)
// is when a commit last wrote the row; rows written before version 4 have
// NULL until the first ExpireProducers over their partition stamps them.
//
// # Commit
//
// One Commit (all objects of one intake flush) is one read-write
// transaction: one Read of all touched Partitions rows, one of the
// ProducerStates and one of the ProducerEpochs of its idempotent batches,
// the sequence and offset logic in memory (the same rules as kvmeta),
// then buffered writes of IndexEntries, Partitions and ProducerStates.
// Spanner applies them atomically at commit, so readers see all of a
// Commit or nothing. Concurrent committers to a partition conflict on its
// row; the loser is ABORTED and the client library reruns the function,
// bounded by the caller's deadline. A commit whose writes would exceed
// max_mutations fails whole with ErrCommitTooLarge: it is never split,
// because a split would make part of it visible (or, on failure, durable)
// alone. Per commit the count is 13 per index entry (one per partition run
// of each object), 5 per partition and 6 per idempotent producer and
// partition; 80000 allows e.g. 3333 partitions with a producer each in
// one commit. The Store reports these weights and max_mutations as its
// meta.CommitLimits, by which the produce pipeline cuts flushes and
// splits groups of flushes so that no Commit it sends exceeds them
// (stages/produce/commitsplit.go). Spanner's own refusal of a commit with
// too many mutations is ErrCommitTooLarge too. Every producer state
// written carries the commit timestamp (LastWrite).
//
// # Lifecycle
//
// DeleteRecords moves the log start in the partition row and, in the
// same read-write transaction, deletes the partition's IndexEntries with
// LastOffset below it (one key-range delete); the entry straddling the
// new log start stays.
//
// ReplaceEntries (archive, retention) is one read-write transaction: it
// reads the partition row, then the stored entries at the old entries'
// keys (one Read), and returns meta.ErrConflict unless each is there and
// meta.SameEntry; then meta.CheckReplace, then deletes of the old keys
// followed by writes of the new entries (Spanner applies a transaction's
// mutations in order, so a new entry may reuse an old key). The partition
// row read makes it conflict with Commit and DeleteRecords on the
// partition, so it sees either all of a concurrent change or none. Like
// Commit it fails whole beyond max_mutations (1 per old entry, 13 per
// new one), never split.
//
// ExpireProducers (Kafka's producer.id.expiration.ms) reads the
// partition's ProducerStates rows (ProducerId, LastWrite) with a strong
// read that locks nothing, then, only if some row is idle or unstamped, one
// read-write transaction reads those rows again by key, deletes the ones
// still last written before the limit and stamps the NULL ones with the
// commit timestamp; a row a commit rewrote in between is kept. It takes at
// most max_mutations/4 rows per transaction and reports the rest (More).
//
// AcquireLease and ReleaseLease are read-write transactions on one Leases
// row, applying meta.GrantLease. Lease times are the broker's clock
// (time.Now()), as for Brokers.Expires: the commit timestamp cannot be
// read in the transaction that writes it. Brokers' clock skew therefore
// shifts when others see a lease lapse; lease times must be well above it.
//
// # Reads
//
//   - PartitionState, Entries, EntryAtTimestamp, ProducerState, Topic,
//     TopicByID, Topics, ViewGroup, ListGroups: strong reads (Entries and
//     EntryAtTimestamp one strong read-only transaction, so the partition
//     row and the entries are one snapshot). Fetch bounds consumers by the
//     high watermark and entries are written in the transaction that
//     raises it, so a consumer never reads past the committed high
//     watermark, and every broker sees a commit as soon as it was
//     acknowledged to the producer. Topic lookups decide produce and
//     metadata answers, where a stale "unknown topic" would be wrong.
//   - ClusterID: a stale read (max staleness 15s), falling back to a
//     read-write transaction if the snapshot has no id yet. The id never
//     changes once written, so a stale snapshot that has it is right.
//   - Everything that writes reads inside its read-write transaction.
//
// # Groups
//
// UpdateGroup(s) is a read-write transaction; the GroupTx keeps its own
// writes so fn reads them (Spanner does not show a transaction its
// buffered writes). Watch wakes watchers of this Store right after its own
// commits and polls for other processes' commits: every
// meta.GroupPollInterval one strong query reads (Version, UpdatedAt) of
// the watched groups only and wakes those that changed since the watch
// was taken.
package spannermeta
