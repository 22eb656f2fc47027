package kvmeta

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicedata/sluice/sinks/meta"
)

// pfxTxn keys a transactional id record: "r" id -> the record as JSON (a
// cold path: a few writes per transaction, not per batch).
const pfxTxn = 'r'

func keyTxn(id string) []byte { return append([]byte{pfxTxn}, id...) }

// transactions implements meta.Transactions over the store's KV.
type transactions struct{ s *store }

func (s *store) Transactions() meta.Transactions { return transactions{s} }

type txnTx struct {
	tx Tx
	id string
}

func decodeTxn(id string, v []byte) (*meta.Txn, error) {
	var x meta.Txn
	if err := json.Unmarshal(v, &x); err != nil {
		return nil, fmt.Errorf("kvmeta: decode transactional id %q: %w", id, err)
	}
	return &x, nil
}

func (t *txnTx) Txn() (*meta.Txn, error) {
	v := t.tx.Get(keyTxn(t.id))
	if v == nil {
		return nil, nil
	}
	return decodeTxn(t.id, v)
}

func (t *txnTx) PutTxn(x *meta.Txn) error {
	if x.TransactionalID != t.id {
		return fmt.Errorf("kvmeta: PutTxn of %q in a transaction of %q", x.TransactionalID, t.id)
	}
	var version uint64
	if old, err := t.Txn(); err != nil {
		return err
	} else if old != nil {
		version = old.Version
	}
	x.Version = version + 1
	v, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("kvmeta: encode transactional id %q: %w", t.id, err)
	}
	return t.tx.Put(keyTxn(t.id), v)
}

func (t *txnTx) DeleteTxn() error { return t.tx.Delete(keyTxn(t.id)) }

func (x transactions) ViewTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	return x.s.view(ctx, func(tx Tx) error { return fn(&txnTx{tx: tx, id: id}) })
}

func (x transactions) UpdateTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	return x.s.update(ctx, func(tx Tx) error { return fn(&txnTx{tx: tx, id: id}) })
}

func (x transactions) ListTxns(ctx context.Context) ([]meta.Txn, error) {
	var out []meta.Txn
	err := x.s.view(ctx, func(tx Tx) error {
		out = out[:0]
		var derr error
		err := tx.Seek([]byte{pfxTxn}, nil, func(k, v []byte) bool {
			var r *meta.Txn
			if r, derr = decodeTxn(string(k[1:]), v); derr != nil {
				return false
			}
			out = append(out, *r)
			return true
		})
		if err != nil {
			return err
		}
		return derr
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
