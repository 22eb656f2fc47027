package spannermeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"cloud.google.com/go/spanner"

	"github.com/sluicedata/sluice/sinks/meta"
)

type transactions struct{ s *Store }

// Transactions returns the transactional id store: the Transactions table
// (schema version 5), one row per transactional id, the record as JSON.
func (s *Store) Transactions() meta.Transactions { return transactions{s} }

var errTxnReadOnly = errors.New("spannermeta: write in a read-only transactional id transaction")

// txnTx is one ViewTxn or UpdateTxn transaction. Spanner does not show a
// transaction's buffered writes to its own reads, so the record written
// is also kept here and Txn returns it: fn sees its own writes, as with
// kvmeta.
type txnTx struct {
	ctx context.Context
	rd  reader
	rw  *spanner.ReadWriteTransaction // nil in ViewTxn
	id  string

	loaded  bool
	record  []byte // current record JSON, nil if none
	version int64
}

func (t *txnTx) load() error {
	if t.loaded {
		return nil
	}
	row, err := t.rd.ReadRow(t.ctx, "Transactions", spanner.Key{t.id}, []string{"Version", "Record"})
	if err != nil && !isNotFound(err) {
		return err
	}
	if err == nil {
		var rec string
		if err := row.Columns(&t.version, &rec); err != nil {
			return err
		}
		t.record = []byte(rec)
	}
	t.loaded = true
	return nil
}

func decodeTxn(id string, rec []byte) (*meta.Txn, error) {
	var x meta.Txn
	if err := json.Unmarshal(rec, &x); err != nil {
		return nil, fmt.Errorf("spannermeta: decode transactional id %q: %w", id, err)
	}
	return &x, nil
}

func (t *txnTx) Txn() (*meta.Txn, error) {
	if err := t.load(); err != nil {
		return nil, err
	}
	if t.record == nil {
		return nil, nil
	}
	return decodeTxn(t.id, t.record)
}

func (t *txnTx) PutTxn(x *meta.Txn) error {
	if t.rw == nil {
		return errTxnReadOnly
	}
	if x.TransactionalID != t.id {
		return fmt.Errorf("spannermeta: PutTxn of %q in a transaction of %q", x.TransactionalID, t.id)
	}
	if err := t.load(); err != nil {
		return err
	}
	var version int64
	if t.record != nil {
		version = t.version
	}
	x.Version = uint64(version + 1)
	rec, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("spannermeta: encode transactional id %q: %w", t.id, err)
	}
	t.record, t.version = rec, version+1
	return t.rw.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("Transactions",
		[]string{"TransactionalId", "Version", "Record", "UpdatedAt"},
		[]any{t.id, t.version, string(rec), spanner.CommitTimestamp})})
}

func (t *txnTx) DeleteTxn() error {
	if t.rw == nil {
		return errTxnReadOnly
	}
	t.loaded, t.record, t.version = true, nil, 0
	return t.rw.BufferWrite([]*spanner.Mutation{spanner.Delete("Transactions", spanner.Key{t.id})})
}

// ViewTxn runs fn in a strong read-only transaction: the transaction logic
// decides on what it reads, so it must see every committed change.
func (x transactions) ViewTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	return x.s.view(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		return fn(&txnTx{ctx: ctx, rd: tx, id: id})
	})
}

// UpdateTxn runs fn in a read-write transaction, rerun by the client
// library if Spanner aborts it (two brokers updating one id: one wins,
// the other reruns fn on the winner's record).
func (x transactions) UpdateTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	return x.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		return fn(&txnTx{ctx: ctx, rd: tx, rw: tx, id: id})
	})
}

// ListTxns is a strong read, ordered by transactional id.
func (x transactions) ListTxns(ctx context.Context) ([]meta.Txn, error) {
	var out []meta.Txn
	err := x.s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		out = out[:0]
		return tx.Query(ctx, spanner.Statement{SQL: `SELECT TransactionalId, Record FROM Transactions ORDER BY TransactionalId`}).
			Do(func(row *spanner.Row) error {
				var id, rec string
				if err := row.Columns(&id, &rec); err != nil {
					return err
				}
				r, err := decodeTxn(id, []byte(rec))
				if err != nil {
					return err
				}
				out = append(out, *r)
				return nil
			})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
