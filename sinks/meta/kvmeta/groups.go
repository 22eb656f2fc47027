package kvmeta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Group keys (see the package comment):
//
//	"g" group                                         group record (JSON)
//	"o" len(group)(BE16) group topic 0x00 part(BE32)  committed offset
//
// The group name is length-prefixed in offset keys so that one group's
// offsets are one prefix whatever bytes names hold; topic names never
// contain 0x00, so topic|0x00 ends a topic unambiguously.
const (
	pfxGroup  = 'g'
	pfxOffset = 'o'
)

func keyGroup(name string) []byte { return append([]byte{pfxGroup}, name...) }

func groupOffsetPrefix(group string) []byte {
	k := make([]byte, 0, 3+len(group))
	k = append(k, pfxOffset)
	k = binary.BigEndian.AppendUint16(k, uint16(len(group)))
	return append(k, group...)
}

func keyOffset(group, topic string, partition int32) []byte {
	k := groupOffsetPrefix(group)
	k = append(k, topic...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(partition))
}

// maxGroupName keeps the length prefix in range.
const maxGroupName = 1<<16 - 1

var errGroupName = errors.New("meta: group name longer than 65535 bytes")

func encodeOffset(o *meta.GroupOffset) []byte {
	b := make([]byte, 0, 1+4*binary.MaxVarintLen64+8)
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, o.Offset)
	b = binary.AppendVarint(b, int64(o.LeaderEpoch))
	b = binary.AppendVarint(b, o.CommitTime.UnixMilli())
	if o.Metadata == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(*o.Metadata)))
	return append(b, *o.Metadata...)
}

func decodeOffset(group string, k, v []byte) (meta.GroupOffset, error) {
	p := len(groupOffsetPrefix(group))
	if len(k) < p+5 || k[len(k)-5] != 0 {
		return meta.GroupOffset{}, fmt.Errorf("kvmeta: decode offset key: %w", errCorrupt)
	}
	o := meta.GroupOffset{
		Topic:     string(k[p : len(k)-5]),
		Partition: int32(binary.BigEndian.Uint32(k[len(k)-4:])),
	}
	d := newDecoder(v)
	o.Offset = d.varint()
	o.LeaderEpoch = int32(d.varint())
	o.CommitTime = time.UnixMilli(d.varint()).UTC()
	n := d.varint()
	if d.err == nil && n >= 0 {
		if n > int64(len(d.b)) {
			d.err = errCorrupt
		} else {
			s := string(d.b[:n])
			o.Metadata = &s
			d.b = d.b[n:]
		}
	}
	return o, d.done("committed offset")
}

// notifier closes a group's channel after each committed change. Entries
// exist only for groups watched since their last change, so it holds no
// memory for idle groups.
type notifier struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (n *notifier) watch(group string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]chan struct{}{}
	}
	ch, ok := n.m[group]
	if !ok {
		ch = make(chan struct{})
		n.m[group] = ch
	}
	return ch
}

func (n *notifier) notify(group string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.m[group]; ok {
		close(ch)
		delete(n.m, group)
	}
}

// groups implements meta.Groups over the store's KV.
type groups struct{ s *store }

func (s *store) Groups() meta.Groups { return groups{s} }

type groupTx struct {
	tx      Tx
	name    string
	changed bool
}

func (t *groupTx) Group() (*meta.Group, error) {
	v := t.tx.Get(keyGroup(t.name))
	if v == nil {
		return nil, nil
	}
	var g meta.Group
	if err := json.Unmarshal(v, &g); err != nil {
		return nil, fmt.Errorf("kvmeta: decode group %q: %w", t.name, err)
	}
	return &g, nil
}

func (t *groupTx) PutGroup(g *meta.Group) error {
	if g.Name != t.name {
		return fmt.Errorf("kvmeta: PutGroup of %q in a transaction of %q", g.Name, t.name)
	}
	var version uint64
	if old, err := t.Group(); err != nil {
		return err
	} else if old != nil {
		version = old.Version
	}
	g.Version = version + 1
	v, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("kvmeta: encode group %q: %w", t.name, err)
	}
	t.changed = true
	return t.tx.Put(keyGroup(t.name), v)
}

func (t *groupTx) DeleteGroup() error {
	t.changed = true
	if err := t.tx.Delete(keyGroup(t.name)); err != nil {
		return err
	}
	return deletePrefix(t.tx, groupOffsetPrefix(t.name))
}

func (t *groupTx) Offset(topic string, partition int32) (meta.GroupOffset, bool, error) {
	k := keyOffset(t.name, topic, partition)
	v := t.tx.Get(k)
	if v == nil {
		return meta.GroupOffset{}, false, nil
	}
	o, err := decodeOffset(t.name, k, v)
	return o, err == nil, err
}

func (t *groupTx) Offsets() ([]meta.GroupOffset, error) {
	var (
		out  []meta.GroupOffset
		derr error
	)
	err := t.tx.Seek(groupOffsetPrefix(t.name), nil, func(k, v []byte) bool {
		var o meta.GroupOffset
		if o, derr = decodeOffset(t.name, k, v); derr != nil {
			return false
		}
		out = append(out, o)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

func (t *groupTx) PutOffsets(offs []meta.GroupOffset) error {
	for i := range offs {
		if err := t.tx.Put(keyOffset(t.name, offs[i].Topic, offs[i].Partition), encodeOffset(&offs[i])); err != nil {
			return err
		}
	}
	return nil
}

func (t *groupTx) DeleteOffset(topic string, partition int32) error {
	return t.tx.Delete(keyOffset(t.name, topic, partition))
}

func (g groups) ViewGroup(ctx context.Context, name string, fn func(meta.GroupTx) error) error {
	if len(name) > maxGroupName {
		return errGroupName
	}
	return g.s.view(ctx, func(tx Tx) error { return fn(&groupTx{tx: tx, name: name}) })
}

func (g groups) UpdateGroup(ctx context.Context, name string, fn func(meta.GroupTx) error) error {
	if len(name) > maxGroupName {
		return errGroupName
	}
	var gt *groupTx
	err := g.s.update(ctx, func(tx Tx) error {
		gt = &groupTx{tx: tx, name: name}
		return fn(gt)
	})
	if err == nil && gt != nil && gt.changed {
		g.s.notifier.notify(name)
	}
	return err
}

func (g groups) UpdateGroups(ctx context.Context, names []string, fn func(int, meta.GroupTx) error) error {
	for _, name := range names {
		if len(name) > maxGroupName {
			return errGroupName
		}
	}
	var gts []*groupTx
	err := g.s.update(ctx, func(tx Tx) error {
		gts = gts[:0]
		for i, name := range names {
			gt := &groupTx{tx: tx, name: name}
			gts = append(gts, gt)
			if err := fn(i, gt); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, gt := range gts {
			if gt.changed {
				g.s.notifier.notify(gt.name)
			}
		}
	}
	return err
}

func (g groups) ListGroups(ctx context.Context) ([]meta.Group, error) {
	var out []meta.Group
	err := g.s.view(ctx, func(tx Tx) error {
		out = out[:0]
		var derr error
		err := tx.Seek([]byte{pfxGroup}, nil, func(k, v []byte) bool {
			var gr meta.Group
			if derr = json.Unmarshal(v, &gr); derr != nil {
				derr = fmt.Errorf("kvmeta: decode group %q: %w", k[1:], derr)
				return false
			}
			out = append(out, gr)
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

func (g groups) Watch(name string) <-chan struct{} { return g.s.notifier.watch(name) }
