package kafka

// Fetch: v4-v18 (record batches of magic v2; v13+ names topics by id).
//
// Partitions are read through the fetch pipeline (plan, index, read,
// assemble) up to the request's MaxBytes (capped by the broker's
// fetch.max.bytes, --fetch-max-bytes) and each partition's max bytes;
// the first batch of the first partition with data goes out whole even
// when larger, so a consumer always progresses. Only committed offsets
// (below the high watermark) are ever returned; with no transactions the
// last stable offset equals the high watermark.
//
// Long polling: when fewer than MinBytes are ready the fetch waits up to
// MaxWaitMillis, woken by the produce pipeline's commits on the partitions
// it reads (never by polling the store). A fetch runs in its own goroutine
// so the connection keeps reading.
//
// Fetch sessions (KIP-227, v7+): epoch 0 opens a session (the request
// lists every partition), epoch -1 closes it and fetches without one, a
// positive epoch is an incremental fetch that names only changed
// partitions and forgotten ones, and is answered with only the partitions
// that have records or changed watermarks or an error. An unknown session
// is FETCH_SESSION_ID_NOT_FOUND, a wrong epoch INVALID_FETCH_SESSION_EPOCH.
//
// KIP-392 (v11+): a fetch whose client.rack names another zone than this
// broker's, where a broker of that zone is alive, is answered at once with
// that broker as every partition's preferred read replica (picked by the
// balance strategy) and no records; the client fetches from it next.
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID at
// v13+), OFFSET_OUT_OF_RANGE below the log start or past the high
// watermark, KAFKA_STORAGE_ERROR when an object is missing or corrupt.

import (
	"errors"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/fetch"
)

func init() { register(kmsg.Fetch.Int16(), 4, -1, handleFetch) }

// fetchPart is one partition of one fetch, in answer order.
type fetchPart struct {
	topic    string
	topicID  meta.TopicID
	tp       meta.TP
	offset   int64
	maxBytes int32
	err      int16 // set when the partition cannot be read at all
	session  *sessionPartition
}

func handleFetch(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)

	var sess *fetchSession
	incremental := false
	if req.Version >= 7 {
		switch {
		case req.SessionEpoch == -1:
			if req.SessionID != 0 {
				s.sessions.remove(req.SessionID)
			}
		case req.SessionEpoch == 0:
			if req.SessionID != 0 {
				s.sessions.remove(req.SessionID)
			}
			sess = s.sessions.create()
		default:
			sess = s.sessions.get(req.SessionID)
			if sess == nil {
				resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
				r.Respond(resp)
				return nil
			}
			incremental = true
		}
	}
	if sess != nil {
		// One fetch at a time per session: epochs are sequential.
		sess.mu.Lock()
		if incremental && req.SessionEpoch != sess.epoch {
			sess.mu.Unlock()
			resp.ErrorCode = kerr.InvalidFetchSessionEpoch.Code
			r.Respond(resp)
			return nil
		}
	}

	parts := s.fetchParts(r, req, sess)
	if sess != nil {
		sess.epoch++
		if sess.epoch <= 0 {
			sess.epoch = 1
		}
		resp.SessionID = sess.id
	}
	if req.Version >= 11 && req.Rack != "" {
		if r.conn != nil && r.copts.zone == "" && r.conn.opts.zone == "" {
			// Count the client's traffic under its rack from now on.
			r.conn.opts.zone = req.Rack
			r.conn.setZone(req.Rack)
		}
		if replicas := s.rackReplicas(req.Rack); len(replicas) > 0 {
			s.answerPreferred(r, req, resp, parts, replicas, incremental)
			if sess != nil {
				sess.mu.Unlock()
			}
			return nil
		}
	}
	go func() {
		if sess != nil {
			defer sess.mu.Unlock()
		}
		defer func() {
			if p := recover(); p != nil {
				// Answer with a retriable error rather than crash.
				s.log.Error("fetch panic", "panic", p, "stack", string(debug.Stack()))
				resp.Topics = nil
				resp.ErrorCode = kerr.UnknownServerError.Code
				r.Respond(resp)
			}
		}()
		s.fetchLongPoll(r, req, resp, parts, incremental)
	}()
	return nil
}

// rackReplicas returns the live brokers of rack when this broker is not in
// it, else nil.
func (s *Server) rackReplicas(rack string) []Peer {
	if rack == s.cfg.Rack || s.cfg.Cluster == nil {
		return nil
	}
	var out []Peer
	for _, p := range s.peers() {
		if p.Zone == rack {
			out = append(out, p)
		}
	}
	return out
}

// answerPreferred answers a fetch with a preferred read replica for every
// partition, and their watermarks, without records.
func (s *Server) answerPreferred(r *Request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []*fetchPart, replicas []Peer, incremental bool) {
	results := make([]fetch.Result, len(parts))
	for i, p := range parts {
		if p.err == 0 {
			st, err := s.cfg.Meta.PartitionState(r.Ctx, p.tp)
			results[i] = fetch.Result{State: st, Err: err}
		}
	}
	s.buildFetchResponse(req, resp, parts, results, incremental)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			if rp.ErrorCode == 0 {
				rp.PreferredReadReplica = pick(replicas, s.balanceKey(r, partitionKey(t.TopicID, rp.Partition))).NodeID
			}
		}
	}
	r.Respond(resp)
}

// fetchParts resolves the partitions of the request, merged into the
// session if there is one.
func (s *Server) fetchParts(r *Request, req *kmsg.FetchRequest, sess *fetchSession) []*fetchPart {
	var parts, errParts []*fetchPart
	resolve := func(rt *kmsg.FetchRequestTopic) (meta.Topic, int16) {
		if req.Version >= 13 {
			t, err := s.topics.byIDGet(r.Ctx, rt.TopicID)
			if errors.Is(err, meta.ErrUnknownTopicOrPartition) {
				return t, kerr.UnknownTopicID.Code
			}
			return t, errorCode(err)
		}
		t, err := s.topics.byNameGet(r.Ctx, rt.Topic)
		return t, errorCode(err)
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		t, tcode := resolve(rt)
		for _, rp := range rt.Partitions {
			p := &fetchPart{topic: rt.Topic, topicID: rt.TopicID, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes}
			p.tp = meta.TP{Topic: t.ID, Partition: rp.Partition}
			p.err = tcode
			if p.err == 0 && (rp.Partition < 0 || rp.Partition >= t.Partitions) {
				p.err = kerr.UnknownTopicOrPartition.Code
			}
			if p.err != 0 {
				// Not kept in the session: it is answered now, once.
				errParts = append(errParts, p)
				continue
			}
			if req.Version < 13 {
				p.topicID = t.ID
			} else {
				p.topic = t.Name
			}
			if sess != nil {
				sess.upsert(p.tp, t.Name, rp.FetchOffset, rp.PartitionMaxBytes)
			} else {
				parts = append(parts, p)
			}
		}
	}
	if sess == nil {
		return append(parts, errParts...)
	}
	for _, ft := range req.ForgottenTopics {
		var id meta.TopicID
		if req.Version >= 13 {
			id = ft.TopicID
		} else if t, err := s.topics.byNameGet(r.Ctx, ft.Topic); err == nil {
			id = t.ID
		} else {
			continue
		}
		for _, p := range ft.Partitions {
			sess.forget(meta.TP{Topic: id, Partition: p})
		}
	}
	for _, sp := range sess.parts {
		parts = append(parts, &fetchPart{topic: sp.topic, topicID: sp.tp.Topic, tp: sp.tp, offset: sp.offset, maxBytes: sp.maxBytes, session: sp})
	}
	return append(parts, errParts...)
}

// fetchLongPoll reads until MinBytes are ready, an error shows, or
// MaxWaitMillis passes, then answers.
func (s *Server) fetchLongPoll(r *Request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []*fetchPart, incremental bool) {
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	tps := make([]meta.TP, 0, len(parts))
	for _, p := range parts {
		if p.err == 0 {
			tps = append(tps, p.tp)
		}
	}
	// The broker's fetch.max.bytes caps the answer whatever the client
	// asks (readParts still lets one batch go out whole, KIP-74).
	maxBytes := req.MaxBytes
	if req.Version < 3 || maxBytes <= 0 || maxBytes > s.cfg.FetchMaxBytes {
		maxBytes = s.cfg.FetchMaxBytes
	}
	for {
		// Register before reading, so a commit between the read and the
		// wait is not missed.
		wake, cancel := s.cfg.Fetch.Waker.Wait(tps)
		results, total, anyErr := s.readParts(r, parts, maxBytes)
		remaining := time.Until(deadline)
		if int64(total) >= int64(req.MinBytes) || anyErr || remaining <= 0 || len(tps) == 0 {
			cancel()
			s.buildFetchResponse(req, resp, parts, results, incremental)
			r.Respond(resp)
			return
		}
		timer := time.NewTimer(remaining)
		select {
		case <-wake:
		case <-timer.C:
		case <-r.Ctx.Done():
		case <-s.draining:
			// Shutting down: answer now with what there is.
			deadline = time.Now()
		}
		timer.Stop()
		cancel()
		if r.Ctx.Err() != nil {
			r.Respond(resp)
			return
		}
	}
}

func (s *Server) readParts(r *Request, parts []*fetchPart, maxBytes int32) ([]fetch.Result, int, bool) {
	results := make([]fetch.Result, len(parts))
	total := 0
	anyErr := false
	for i, p := range parts {
		if p.err != 0 {
			anyErr = true
			continue
		}
		budget := maxBytes - int32(total)
		if budget <= 0 {
			// Still report watermarks, without records.
			budget = 0
		}
		var res fetch.Result
		if budget > 0 || total == 0 {
			res = s.cfg.Fetch.Read(r.Ctx, fetch.Request{TP: p.tp, Offset: p.offset, MaxBytes: p.maxBytes}, budget, total == 0)
		} else {
			st, err := s.cfg.Meta.PartitionState(r.Ctx, p.tp)
			res = fetch.Result{State: st, Err: err}
		}
		if res.Err != nil {
			anyErr = true
		}
		total += len(res.Records)
		results[i] = res
	}
	return results, total, anyErr
}

func (s *Server) buildFetchResponse(req *kmsg.FetchRequest, resp *kmsg.FetchResponse, parts []*fetchPart, results []fetch.Result, incremental bool) {
	s.tel.recordLag(parts, results)
	var topic *kmsg.FetchResponseTopic
	for i, p := range parts {
		res := results[i]
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = p.tp.Partition
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
		rp.PreferredReadReplica = -1
		// Empty, never null: librdkafka rejects a null record set.
		rp.RecordBatches = []byte{}
		if p.err != 0 {
			rp.ErrorCode = p.err
		} else {
			rp.ErrorCode = errorCode(res.Err)
			if res.Err == nil || errors.Is(res.Err, meta.ErrOffsetOutOfRange) {
				rp.HighWatermark = res.State.HighWatermark
				rp.LastStableOffset = res.State.HighWatermark
				rp.LogStartOffset = res.State.LogStart
			}
			if res.Records != nil {
				rp.RecordBatches = res.Records
			}
		}
		if sp := p.session; sp != nil {
			changed := !sp.reported || len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 ||
				sp.lastHWM != rp.HighWatermark || sp.lastStart != rp.LogStartOffset
			sp.reported, sp.lastHWM, sp.lastStart = true, rp.HighWatermark, rp.LogStartOffset
			if incremental && !changed {
				continue
			}
		}
		if topic == nil || topic.Topic != p.topic || topic.TopicID != p.topicID {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			topic = &resp.Topics[len(resp.Topics)-1]
			topic.Topic, topic.TopicID = p.topic, p.topicID
		}
		topic.Partitions = append(topic.Partitions, rp)
	}
}
