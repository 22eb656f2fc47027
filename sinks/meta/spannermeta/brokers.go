package spannermeta

import (
	"context"
	"fmt"
	"sort"
	"time"

	"cloud.google.com/go/spanner"

	"github.com/sluicedata/sluice/sinks/meta"
)

type brokers struct{ s *Store }

// Brokers returns the broker registry: the Brokers table (schema version
// 2), one row per broker name, read whole (it holds one row per broker).
func (s *Store) Brokers() meta.Brokers { return brokers{s} }

var brokerCols = []string{"Name", "NodeId", "Zone", "Host", "Port", "PeerAddr", "Expires"}

func readBrokers(ctx context.Context, rd reader) ([]meta.BrokerInfo, error) {
	var out []meta.BrokerInfo
	err := rd.Read(ctx, "Brokers", spanner.AllKeys(), brokerCols).Do(func(row *spanner.Row) error {
		var (
			b          meta.BrokerInfo
			id, port   int64
			expiresRaw time.Time
		)
		if err := row.Columns(&b.Name, &id, &b.Zone, &b.Host, &port, &b.PeerAddr, &expiresRaw); err != nil {
			return err
		}
		b.NodeID, b.Port = int32(id), int32(port)
		if expiresRaw.Unix() > 0 {
			b.Expires = expiresRaw.UTC()
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

func (b brokers) Register(ctx context.Context, info meta.BrokerInfo) (int32, error) {
	if info.Name == "" {
		return 0, fmt.Errorf("spannermeta: register a broker without a name")
	}
	var id int32
	err := b.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		all, err := readBrokers(ctx, tx)
		if err != nil {
			return err
		}
		if id, err = meta.PickNodeID(all, info, time.Now()); err != nil {
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.InsertOrUpdate("Brokers", brokerCols,
			[]any{info.Name, int64(id), info.Zone, info.Host, int64(info.Port), info.PeerAddr, info.Expires.UTC()})})
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Deregister sets the lease to the Unix epoch (the row, and the name's
// node id, stay).
func (b brokers) Deregister(ctx context.Context, name string) error {
	return b.s.update(ctx, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		if _, err := tx.ReadRow(ctx, "Brokers", spanner.Key{name}, []string{"Name"}); err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{spanner.Update("Brokers", []string{"Name", "Expires"},
			[]any{name, time.Unix(0, 0).UTC()})})
	})
}

// Brokers is one strong read of the table.
func (b brokers) Brokers(ctx context.Context, now time.Time) ([]meta.BrokerInfo, error) {
	var out []meta.BrokerInfo
	err := b.s.single(ctx, func(ctx context.Context, tx *spanner.ReadOnlyTransaction) error {
		all, err := readBrokers(ctx, tx)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, r := range all {
			if r.Expires.After(now) {
				out = append(out, r)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, err
}
