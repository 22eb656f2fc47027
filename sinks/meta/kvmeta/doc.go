// Package kvmeta implements meta.Store once, over a small ordered
// transactional key-value interface (KV), so that every backend (bbolt,
// memory, later others) shares the offset-assignment and sequence logic
// that Sluice's correctness rests on.
//
// Key layout (one flat keyspace; the first byte says what a key holds):
//
//	"c"                                  cluster id
//	"n"                                  next producer id (int64 BE)
//	"t" name                             topic (JSON; cold path)
//	"i" topicID                          topic name, for TopicByID
//	"s" topicID part(BE32)               partition state
//	"x" topicID part(BE32) lastOff(BE64) index entry
//	"q" topicID part(BE32) pid(BE64)     producer state on a partition
//	"e" pid(BE64)                        producer epoch registered by BumpProducerEpoch
//	"g" group                            consumer group (JSON; see groups.go)
//	"o" len(group) group topic 0 part    committed offset of a group
//	"b" name                             registered broker (JSON; see brokers.go)
//	"l" name                             lifecycle lease (JSON; see lifecycle.go)
//	"r" transactional id                 transaction record (JSON; see transactions.go)
//
// Index keys end in the entry's LastOffset, big-endian (offsets are never
// negative, so byte order is numeric order): Entries(tp, from) is one
// seek to the first key >= prefix|from, which is the first entry with
// LastOffset >= from. Producer states are keyed by partition first so
// DeleteTopic can drop them with a prefix scan.
//
// Hot-path values (partition state, index entries, producer state) are
// compact binary: a version byte then varints. Topics are JSON. Fields
// added later go at the end of a value and may be absent, so values
// written before them still decode: an index entry's kind (absent: intake)
// and a producer state's last write (absent: unknown, stamped by the first
// ExpireProducers, which deletes states idle past producer.id.expiration.ms).
package kvmeta
