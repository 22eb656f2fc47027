package memmeta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/kvmeta"
)

func init() {
	meta.Register("mem", func(_ context.Context, url, _ string) (meta.Store, error) {
		if url != "mem://" {
			return nil, fmt.Errorf("memmeta: metadata store URL %q: mem:// takes no path or options", url)
		}
		return New(), nil
	})
}

// New returns an empty in-memory metadata store. Its commits are
// unbounded.
func New() meta.Store { return kvmeta.New(NewKV()) }

// NewLimited returns an empty in-memory metadata store whose commits are
// bounded by limits, as a Spanner or bbolt store's are (kvmeta.NewLimited):
// for tests of the code that splits commits to fit.
func NewLimited(limits meta.CommitLimits) meta.Store { return kvmeta.NewLimited(NewKV(), limits) }

// KV is the in-memory ordered transactional key-value store under New,
// exported for tests of kvmeta-based code.
type KV struct {
	mu     sync.RWMutex
	keys   []string // sorted; strings so the map and slice share them
	vals   map[string][]byte
	closed bool
}

var _ kvmeta.KV = (*KV)(nil)

// NewKV returns an empty KV.
func NewKV() *KV { return &KV{vals: map[string][]byte{}} }

var errReadOnly = errors.New("memmeta: write in a read-only transaction")

// View runs fn under the read lock.
func (m *KV) View(fn func(kvmeta.Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return meta.ErrClosed
	}
	return fn(&tx{m: m, readOnly: true})
}

// Update runs fn under the write lock and undoes its writes if it fails.
func (m *KV) Update(fn func(kvmeta.Tx) error) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return meta.ErrClosed
	}
	t := &tx{m: m, undo: map[string]undo{}}
	committed := false
	defer func() {
		if !committed {
			t.rollback() // error or panic; a panic continues after this
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	return nil
}

// Close drops the data; later transactions fail with meta.ErrClosed.
func (m *KV) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.keys, m.vals = nil, nil
	return nil
}

func (m *KV) set(k string, v []byte) {
	if _, ok := m.vals[k]; !ok {
		i, _ := slices.BinarySearch(m.keys, k)
		m.keys = slices.Insert(m.keys, i, k)
	}
	m.vals[k] = v
}

func (m *KV) del(k string) {
	if _, ok := m.vals[k]; !ok {
		return
	}
	delete(m.vals, k)
	if i, ok := slices.BinarySearch(m.keys, k); ok {
		m.keys = slices.Delete(m.keys, i, i+1)
	}
}

type undo struct {
	val     []byte
	existed bool
}

type tx struct {
	m        *KV
	readOnly bool
	undo     map[string]undo // first old value of each key written
}

func (t *tx) Get(key []byte) []byte { return t.m.vals[string(key)] }

func (t *tx) remember(k string) {
	if _, ok := t.undo[k]; ok {
		return
	}
	v, existed := t.m.vals[k]
	t.undo[k] = undo{v, existed}
}

func (t *tx) Put(key, val []byte) error {
	if t.readOnly {
		return errReadOnly
	}
	k := string(key)
	t.remember(k)
	// Copy: the value outlives the transaction, unlike the caller's
	// promise not to modify it. Never nil, so "empty" stays distinct
	// from "absent" for Get.
	t.m.set(k, append([]byte{}, val...))
	return nil
}

func (t *tx) Delete(key []byte) error {
	if t.readOnly {
		return errReadOnly
	}
	k := string(key)
	t.remember(k)
	t.m.del(k)
	return nil
}

func (t *tx) rollback() {
	for k, u := range t.undo {
		if u.existed {
			t.m.set(k, u.val)
		} else {
			t.m.del(k)
		}
	}
}

func (t *tx) Seek(prefix, from []byte, fn func(k, v []byte) bool) error {
	start := string(prefix)
	if f := string(from); f > start {
		start = f
	}
	p, keys := string(prefix), t.m.keys
	for i, _ := slices.BinarySearch(keys, start); i < len(keys); i++ {
		k := keys[i]
		if !strings.HasPrefix(k, p) {
			break
		}
		if !fn([]byte(k), t.m.vals[k]) {
			break
		}
	}
	return nil
}
