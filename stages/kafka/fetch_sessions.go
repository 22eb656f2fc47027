package kafka

import (
	"container/list"
	"math/rand/v2"
	"sync"

	"github.com/sluicedata/sluice/sinks/meta"
)

// fetchSessions keeps KIP-227 incremental fetch sessions: per session the
// partitions a client fetches, with the offsets and max bytes it last sent
// and what the broker last reported, so that an incremental request need
// name only what changed and an incremental answer only what is new.
// Sessions are bounded; the least recently used is evicted, and its client
// then gets FETCH_SESSION_ID_NOT_FOUND and starts a new one.
type fetchSessions struct {
	mu   sync.Mutex
	max  int
	ll   *list.List
	byID map[int32]*list.Element
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next request must carry
	parts []*sessionPartition
	index map[meta.TP]*sessionPartition
	mu    sync.Mutex // one fetch at a time per session
}

type sessionPartition struct {
	tp        meta.TP
	topic     string
	offset    int64
	maxBytes  int32
	lastHWM   int64
	lastStart int64
	reported  bool
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, ll: list.New(), byID: make(map[int32]*list.Element)}
}

func (f *fetchSessions) create() *fetchSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.ll.Len() >= f.max {
		el := f.ll.Back()
		f.ll.Remove(el)
		delete(f.byID, el.Value.(*fetchSession).id)
	}
	var id int32
	for id == 0 || f.byID[id] != nil {
		id = rand.Int32()
	}
	s := &fetchSession{id: id, index: make(map[meta.TP]*sessionPartition)}
	f.byID[id] = f.ll.PushFront(s)
	return s
}

func (f *fetchSessions) get(id int32) *fetchSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	el, ok := f.byID[id]
	if !ok {
		return nil
	}
	f.ll.MoveToFront(el)
	return el.Value.(*fetchSession)
}

func (f *fetchSessions) remove(id int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if el, ok := f.byID[id]; ok {
		f.ll.Remove(el)
		delete(f.byID, id)
	}
}

// upsert adds or updates a partition of the session.
func (s *fetchSession) upsert(tp meta.TP, topic string, offset int64, maxBytes int32) {
	if p, ok := s.index[tp]; ok {
		p.offset, p.maxBytes = offset, maxBytes
		return
	}
	p := &sessionPartition{tp: tp, topic: topic, offset: offset, maxBytes: maxBytes}
	s.index[tp] = p
	s.parts = append(s.parts, p)
}

// forget removes a partition from the session.
func (s *fetchSession) forget(tp meta.TP) {
	if _, ok := s.index[tp]; !ok {
		return
	}
	delete(s.index, tp)
	for i, p := range s.parts {
		if p.tp == tp {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			return
		}
	}
}
