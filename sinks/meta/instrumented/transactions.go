package instrumented

import (
	"context"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Transactions returns the wrapped store's transactional id store,
// counted: UpdateTxn as a write (one transaction each), ViewTxn and
// ListTxns as reads.
func (w *Store) Transactions() meta.Transactions {
	return transactions{w: w, t: w.Store.Transactions()}
}

type transactions struct {
	w *Store
	t meta.Transactions
}

func (t transactions) ViewTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	c := t.w.begin(read, "view_txn")
	err := t.t.ViewTxn(ctx, id, fn)
	c.end(err)
	return err
}

func (t transactions) UpdateTxn(ctx context.Context, id string, fn func(meta.TxnTx) error) error {
	c := t.w.begin(write, "update_txn")
	err := t.t.UpdateTxn(ctx, id, fn)
	c.end(err)
	return err
}

func (t transactions) ListTxns(ctx context.Context) ([]meta.Txn, error) {
	c := t.w.begin(read, "list_txns")
	out, err := t.t.ListTxns(ctx)
	c.end(err)
	return out, err
}
