package kvmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Broker registry keys:
//
//	"b" name    broker record (JSON): node id, zone, address, lease
//
// Records are never deleted: a name keeps its node id across restarts,
// and Deregister only zeroes the lease.
const pfxBroker = 'b'

func keyBroker(name string) []byte { return append([]byte{pfxBroker}, name...) }

type brokerRecord struct {
	Name     string    `json:"name"`
	NodeID   int32     `json:"node_id"`
	Zone     string    `json:"zone,omitempty"`
	Host     string    `json:"host"`
	Port     int32     `json:"port"`
	PeerAddr string    `json:"peer_addr,omitempty"`
	Expires  time.Time `json:"expires"`
}

func (r *brokerRecord) info() meta.BrokerInfo {
	return meta.BrokerInfo{Name: r.Name, NodeID: r.NodeID, Zone: r.Zone, Host: r.Host, Port: r.Port, PeerAddr: r.PeerAddr, Expires: r.Expires}
}

type brokers struct{ s *store }

func (s *store) Brokers() meta.Brokers { return brokers{s} }

func allBrokers(tx Tx) ([]brokerRecord, error) {
	var (
		out  []brokerRecord
		derr error
	)
	err := tx.Seek([]byte{pfxBroker}, nil, func(k, v []byte) bool {
		var r brokerRecord
		if derr = json.Unmarshal(v, &r); derr != nil {
			derr = fmt.Errorf("kvmeta: decode broker %q: %w", k[1:], derr)
			return false
		}
		out = append(out, r)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

func (b brokers) Register(ctx context.Context, info meta.BrokerInfo) (int32, error) {
	if info.Name == "" {
		return 0, fmt.Errorf("kvmeta: register a broker without a name")
	}
	var id int32
	err := b.s.update(ctx, func(tx Tx) error {
		all, err := allBrokers(tx)
		if err != nil {
			return err
		}
		id, err = meta.PickNodeID(all2info(all), info, time.Now())
		if err != nil {
			return err
		}
		r := brokerRecord{Name: info.Name, NodeID: id, Zone: info.Zone, Host: info.Host, Port: info.Port,
			PeerAddr: info.PeerAddr, Expires: info.Expires.UTC()}
		v, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		return tx.Put(keyBroker(info.Name), v)
	})
	return id, err
}

func all2info(rs []brokerRecord) []meta.BrokerInfo {
	out := make([]meta.BrokerInfo, len(rs))
	for i := range rs {
		out[i] = rs[i].info()
	}
	return out
}

func (b brokers) Deregister(ctx context.Context, name string) error {
	return b.s.update(ctx, func(tx Tx) error {
		v := tx.Get(keyBroker(name))
		if v == nil {
			return nil
		}
		var r brokerRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("kvmeta: decode broker %q: %w", name, err)
		}
		r.Expires = time.Time{}
		nv, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		return tx.Put(keyBroker(name), nv)
	})
}

func (b brokers) Brokers(ctx context.Context, now time.Time) ([]meta.BrokerInfo, error) {
	var out []meta.BrokerInfo
	err := b.s.view(ctx, func(tx Tx) error {
		all, err := allBrokers(tx)
		if err != nil {
			return err
		}
		out = out[:0]
		for i := range all {
			if all[i].Expires.After(now) {
				out = append(out, all[i].info())
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, err
}
