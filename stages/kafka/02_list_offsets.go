package kafka

// ListOffsets: v1-v11 (v0's segment-time offsets are not served).
//
// Special timestamps, answered with timestamp -1 and leader epoch 0:
//   - -2 earliest: the log start offset.
//   - -1 latest: the high watermark. READ_COMMITTED is the same (there are
//     no transactions, so the last stable offset is the high watermark).
//   - -3 max timestamp (KIP-734, v7+): the offset and timestamp of the
//     first record carrying the partition's largest timestamp, found by
//     decoding the batch that holds it. If that batch is already below the
//     log start (DeleteRecords) and cannot be read, the batch's last offset
//     is answered instead. An empty partition answers offset -1.
//   - -4 earliest local (KIP-405, v8+): as -2; Sluice has no local tier.
//   - -5 latest tiered (KIP-1005, v9+): as -1; every committed record is
//     in object storage.
//   - -6 earliest pending upload (KIP-1023, v11+): offset -1; nothing is
//     ever pending upload once committed.
//
// Any other negative timestamp, or a special one below the version that
// introduced it, is UNSUPPORTED_VERSION for that partition, as in Kafka.
//
// A timestamp >= 0 answers the first offset (at or after the log start)
// whose record timestamp is >= the timestamp, with that record's
// timestamp: the metadata index narrows the search to the first run of
// batches whose max timestamp reaches it (for the partition's archive
// entry, the first such segment its catalog lists), then those batches
// are read and their records decoded (record timestamp = first timestamp
// + delta, or the batch max timestamp for LogAppendTime batches). If no
// record qualifies the answer is offset -1, timestamp -1 with no error, as
// in Kafka.
//
// Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST for a
// partition listed twice, UNKNOWN_LEADER_EPOCH for a current leader epoch
// above 0 and FENCED_LEADER_EPOCH for one below -1 (-1 skips the check),
// KAFKA_STORAGE_ERROR when an object cannot be read.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/stages/fetch"
)

func init() { register(kmsg.ListOffsets.Int16(), 1, -1, handleListOffsets) }

// listOffsetsMinVersion is the request version each special timestamp
// needs (Kafka's ReplicaManager.timestampMinSupportedVersion).
var listOffsetsMinVersion = map[int64]int16{-1: 1, -2: 1, -3: 7, -4: 8, -5: 9, -6: 11}

// listOffsetsReadBytes is how much one read of a timestamp search asks
// the fetcher for.
const listOffsetsReadBytes = 1 << 20

// epochCheck applies Kafka's current-leader-epoch fencing for a partition
// whose leader epoch is always 0: -1 means the client does not know it.
func epochCheck(current int32) int16 {
	switch {
	case current == -1 || current == 0:
		return 0
	case current > 0:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}

func handleListOffsets(s *Server, r *Request) error {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)

	type tpName struct {
		t string
		p int32
	}
	seen := make(map[tpName]int)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[tpName{rt.Topic, rp.Partition}]++
		}
	}

	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		topic, terr := s.topics.byNameGet(r.Ctx, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = s.listOffset(r.Ctx, req, topic, terr, rp, seen[tpName{rt.Topic, rp.Partition}] > 1, &sp)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Respond(resp)
	return nil
}

// listOffset fills sp for one partition and returns its error code.
func (s *Server) listOffset(ctx context.Context, req *kmsg.ListOffsetsRequest, topic meta.Topic, terr error, rp kmsg.ListOffsetsRequestTopicPartition, dup bool, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	if dup {
		return kerr.InvalidRequest.Code
	}
	if minV, ok := listOffsetsMinVersion[rp.Timestamp]; rp.Timestamp < 0 && (!ok || req.Version < minV) {
		return kerr.UnsupportedVersion.Code
	}
	if terr != nil {
		return errorCode(terr)
	}
	if rp.Partition < 0 || rp.Partition >= topic.Partitions {
		return kerr.UnknownTopicOrPartition.Code
	}
	if req.Version >= 4 {
		if code := epochCheck(rp.CurrentLeaderEpoch); code != 0 {
			return code
		}
	}
	tp := meta.TP{Topic: topic.ID, Partition: rp.Partition}
	state, err := s.cfg.Meta.PartitionState(ctx, tp)
	if err != nil {
		return errorCode(err)
	}
	sp.LeaderEpoch = 0
	switch rp.Timestamp {
	case -2, -4:
		sp.Offset = state.LogStart
	case -1, -5:
		sp.Offset = state.HighWatermark
	case -6:
		// Nothing is pending upload: offset -1, timestamp -1.
	case -3:
		if state.MaxTimestamp < 0 || state.MaxTimestampOffset < 0 {
			break
		}
		off, err := s.maxTimestampRecord(ctx, tp, state)
		if err != nil {
			return errorCode(err)
		}
		sp.Offset, sp.Timestamp = off, state.MaxTimestamp
	default:
		off, ts, found, err := s.offsetForTimestamp(ctx, tp, state, rp.Timestamp)
		if err != nil {
			return errorCode(err)
		}
		if found {
			sp.Offset, sp.Timestamp = off, ts
		}
	}
	return 0
}

// recordTimestamp is a record's timestamp within batch h.
func recordTimestamp(h codec.BatchHeader, rec *codec.Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + rec.TimestampDelta
}

// maxTimestampRecord finds the first record carrying state.MaxTimestamp in
// the batch whose last offset is state.MaxTimestampOffset. When that batch
// is no longer readable (below the log start) it answers the batch's last
// offset, as the metadata store records it.
func (s *Server) maxTimestampRecord(ctx context.Context, tp meta.TP, state meta.PartitionState) (int64, error) {
	if state.MaxTimestampOffset < state.LogStart {
		return state.MaxTimestampOffset, nil
	}
	res := s.cfg.Fetch.Read(ctx, fetch.Request{TP: tp, Offset: state.MaxTimestampOffset, MaxBytes: listOffsetsReadBytes}, listOffsetsReadBytes, true)
	if errors.Is(res.Err, meta.ErrOffsetOutOfRange) {
		return state.MaxTimestampOffset, nil // deleted meanwhile
	}
	if res.Err != nil {
		return 0, res.Err
	}
	batches, err := codec.SplitBatches(res.Records)
	if err != nil {
		return 0, err
	}
	for _, b := range batches {
		h, err := codec.ParseBatch(b)
		if err != nil {
			return 0, err
		}
		last := h.BaseOffset + int64(h.LastOffsetDelta)
		if last < state.MaxTimestampOffset {
			continue
		}
		if last > state.MaxTimestampOffset || h.MaxTimestamp != state.MaxTimestamp {
			break // not the batch the store recorded; fall back
		}
		recs, err := codec.DecodeRecords(h, b)
		if err != nil {
			return 0, err
		}
		for i := range recs {
			if recordTimestamp(h, &recs[i]) == state.MaxTimestamp {
				return h.BaseOffset + int64(recs[i].OffsetDelta), nil
			}
		}
		break
	}
	return state.MaxTimestampOffset, nil
}

// offsetForTimestamp finds the first record at or after the log start
// whose timestamp is >= ts.
func (s *Server) offsetForTimestamp(ctx context.Context, tp meta.TP, state meta.PartitionState, ts int64) (offset, recTS int64, found bool, err error) {
	e, ok, err := s.cfg.Meta.EntryAtTimestamp(ctx, tp, ts)
	if err != nil || !ok {
		return -1, -1, false, err
	}
	logStart := state.LogStart
	if e, ok, err = s.resolveRun(ctx, tp, e, logStart, ts); err != nil || !ok {
		return -1, -1, false, err
	}
	from := max(e.BaseOffset, logStart)
	runEnd := e.LastOffset // last offset of the index run being read
	for {
		if from > runEnd {
			// Skip runs whose batches all end before ts.
			next, ok, err := s.nextRunAtTimestamp(ctx, tp, from, ts)
			if err != nil || !ok {
				return -1, -1, false, err
			}
			from, runEnd = max(from, next.BaseOffset), next.LastOffset
		}
		res := s.cfg.Fetch.Read(ctx, fetch.Request{TP: tp, Offset: from, MaxBytes: listOffsetsReadBytes}, listOffsetsReadBytes, true)
		if res.Err != nil {
			if errors.Is(res.Err, meta.ErrOffsetOutOfRange) && from < res.State.LogStart {
				// Records were deleted meanwhile: go on from the new
				// log start.
				from, logStart = res.State.LogStart, res.State.LogStart
				continue
			}
			return -1, -1, false, res.Err
		}
		if len(res.Records) == 0 {
			return -1, -1, false, nil // reached the high watermark
		}
		logStart = max(logStart, res.State.LogStart)
		batches, err := codec.SplitBatches(res.Records)
		if err != nil {
			return -1, -1, false, err
		}
		next := from
		for _, b := range batches {
			h, err := codec.ParseBatch(b)
			if err != nil {
				return -1, -1, false, err
			}
			next = h.BaseOffset + int64(h.LastOffsetDelta) + 1
			if h.MaxTimestamp < ts || h.Control() {
				continue
			}
			recs, err := codec.DecodeRecords(h, b)
			if err != nil {
				return -1, -1, false, err
			}
			for i := range recs {
				off := h.BaseOffset + int64(recs[i].OffsetDelta)
				if t := recordTimestamp(h, &recs[i]); off >= logStart && off >= from && t >= ts {
					return off, t, true, nil
				}
			}
		}
		if next <= from {
			return -1, -1, false, nil // no progress: give up rather than loop
		}
		from = next
	}
}

// nextRunAtTimestamp returns the first index entry with offsets at or after
// from whose max timestamp reaches ts.
func (s *Server) nextRunAtTimestamp(ctx context.Context, tp meta.TP, from, ts int64) (meta.IndexEntry, bool, error) {
	const page = 64
	for {
		entries, err := s.cfg.Meta.Entries(ctx, tp, from, page)
		if err != nil || len(entries) == 0 {
			return meta.IndexEntry{}, false, err
		}
		for _, e := range entries {
			if e.MaxTimestamp >= ts {
				return s.resolveRun(ctx, tp, e, from, ts)
			}
		}
		from = entries[len(entries)-1].LastOffset + 1
		if len(entries) < page {
			return meta.IndexEntry{}, false, nil
		}
	}
}

// resolveRun narrows an index entry whose max timestamp reaches ts to a
// run whose batches can be read and searched. An archive entry stands for
// all its segments: it becomes the first of them, holding offsets at or
// after from, whose max timestamp reaches ts, or, when none does (the one
// that did lies below from), the next entry after the archive that does.
func (s *Server) resolveRun(ctx context.Context, tp meta.TP, e meta.IndexEntry, from, ts int64) (meta.IndexEntry, bool, error) {
	if e.Kind != meta.EntryArchive {
		return e, true, nil
	}
	a := e
	a.BaseOffset = max(a.BaseOffset, from)
	r, ok, err := s.cfg.Fetch.ResolveTimestamp(ctx, a, ts)
	if err != nil || ok {
		return r, ok, err
	}
	return s.nextRunAtTimestamp(ctx, tp, e.LastOffset+1, ts)
}
