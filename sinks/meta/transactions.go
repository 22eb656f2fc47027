package meta

import (
	"context"
	"time"
)

// TxnState is a transactional id's state, as Kafka names them (KIP-98;
// DescribeTransactions and ListTransactions report these names).
type TxnState int8

const (
	// TxnEmpty: the producer id is initialised and no transaction is open.
	TxnEmpty TxnState = iota
	// TxnOngoing: AddPartitionsToTxn or AddOffsetsToTxn opened one.
	TxnOngoing
	// TxnPrepareCommit and TxnPrepareAbort: EndTxn decided; the markers
	// are being written. Sluice writes them in the same store transaction
	// as the decision (docs/transactions.md), so a stored record is in a
	// Prepare state only if a later design step splits that transaction.
	TxnPrepareCommit
	TxnPrepareAbort
	// TxnCompleteCommit and TxnCompleteAbort: the markers are written.
	TxnCompleteCommit
	TxnCompleteAbort
	// TxnDead: the transactional id expired (transactional.id.expiration.ms);
	// it is deleted rather than stored, and reported for ids that do not
	// exist.
	TxnDead
)

func (s TxnState) String() string {
	switch s {
	case TxnEmpty:
		return "Empty"
	case TxnOngoing:
		return "Ongoing"
	case TxnPrepareCommit:
		return "PrepareCommit"
	case TxnPrepareAbort:
		return "PrepareAbort"
	case TxnCompleteCommit:
		return "CompleteCommit"
	case TxnCompleteAbort:
		return "CompleteAbort"
	default:
		return "Dead"
	}
}

// TxnPartition is one partition added to an ongoing transaction. Topic
// is the name the client used; TP carries the topic id, so a topic
// deleted and re-created under the same name is told apart.
type TxnPartition struct {
	Topic string `json:"topic"`
	TP    TP     `json:"tp"`
}

// TxnOffset is one offset TxnOffsetCommit sent for a group, pending until
// the transaction ends.
type TxnOffset struct {
	Group string `json:"group"`
	GroupOffset
}

// Txn is the record of one transactional id: the whole transaction
// coordinator state Kafka keeps per id, kept in the store so that any
// broker serves any transactional request. The transaction logic (a later
// stage) owns its meaning; the store only keeps it.
type Txn struct {
	TransactionalID string `json:"transactional_id"`
	ProducerID      int64  `json:"producer_id"`
	ProducerEpoch   int16  `json:"producer_epoch"`
	// LastProducerID and LastProducerEpoch are the id and epoch before
	// the last bump (KIP-360/KIP-890: a retried InitProducerId or EndTxn
	// is recognised by them); -1 if none.
	LastProducerID    int64    `json:"last_producer_id"`
	LastProducerEpoch int16    `json:"last_producer_epoch"`
	State             TxnState `json:"state"`
	// TimeoutMs is transaction.timeout.ms as InitProducerId accepted it.
	TimeoutMs  int32          `json:"timeout_ms"`
	Partitions []TxnPartition `json:"partitions,omitempty"`
	// Groups are the consumer groups AddOffsetsToTxn added.
	Groups []string `json:"groups,omitempty"`
	// Offsets are the offsets TxnOffsetCommit sent in the current
	// transaction: they reach the groups only when it commits, in the
	// store transaction that writes the markers (docs/transactions.md).
	Offsets []TxnOffset `json:"offsets,omitempty"`
	// StartTime is when the current transaction became Ongoing (zero
	// outside one): the lifecycle aborts it at StartTime+TimeoutMs.
	StartTime time.Time `json:"start_time"`
	// LastUpdate is when the record last changed, by the writer's clock
	// (transactional id expiry counts from it).
	LastUpdate time.Time `json:"last_update"`
	// Version is set by the store: it grows by one with every PutTxn.
	Version uint64 `json:"version"`
}

// TxnTx reads and writes one transactional id inside one store
// transaction.
type TxnTx interface {
	// Txn returns the stored record (a copy the caller may change and
	// pass to PutTxn), or nil if there is none.
	Txn() (*Txn, error)
	// PutTxn stores x (its TransactionalID must be the transaction's)
	// and bumps its Version.
	PutTxn(x *Txn) error
	// DeleteTxn removes the record (expiry of an idle id).
	DeleteTxn() error
}

// Transactions stores transactional id records. Every method is safe for
// concurrent use; brokers sharing one store share the records, so no
// broker is a transaction coordinator. Every state transition is one
// UpdateTxn, serializable with every other.
type Transactions interface {
	// ViewTxn runs fn in a read-only transaction; writes fail.
	ViewTxn(ctx context.Context, transactionalID string, fn func(TxnTx) error) error
	// UpdateTxn runs fn in a read-write transaction that commits if fn
	// returns nil. fn may run more than once (a remote backend retries
	// aborted transactions), so it must not have other side effects.
	UpdateTxn(ctx context.Context, transactionalID string, fn func(TxnTx) error) error
	// ListTxns returns every record, by transactional id.
	ListTxns(ctx context.Context) ([]Txn, error)
}
