// Package produce is Sluice's produce pipeline: the typed stages a record
// batch passes through between a Produce request and its acknowledgement.
//
//	Submit ─► decode ─► sequence ─► cashier ─► compress ─► upload ─► commit ─► ack
//	          (N)       (1, state)  (linger,   (N, builds  (max in   (1, group  (Done per
//	                                 bytes)     the object) flight)   commit)    batch)
//
// decode validates one partition's batch as Kafka's log validator does
// (CRC, sizes, then every record decoded: counts, lengths, offset deltas,
// headers, timestamp limits; compressed payloads are decompressed once,
// into a pooled buffer, under codec.MaxDecompressedBatch) and applies
// LogAppendTime, or under CreateTime the records' max timestamp. sequence answers idempotent retries of batches
// it has seen (in flight or committed) without writing them again and
// fences old producer epochs; the authoritative sequence check is made by
// the metadata store inside the commit transaction, so a restarted broker
// or a second broker can never commit a gap or a duplicate. cashier gathers
// the batches of every connection and partition into one flush; compress
// re-encodes batches whose topic asks for another codec and lays out the
// intake object; upload puts it in object storage (durable on return);
// commit asks the metadata store, in one transaction per group of flushes,
// to assign offsets; ack completes every batch. A store that bounds its
// transactions (meta.CommitLimits: Spanner's mutations, bbolt's rows) has
// flushes cut after the cashier and commit groups split so that no
// transaction exceeds it (commitsplit.go). A batch is acknowledged
// only after both its bytes are durable and its offsets committed.
//
// Upload runs several flushes at once but emits them in flush order, and
// commit takes them in that order, so batches from one connection get
// offsets in the order they were sent.
package produce
