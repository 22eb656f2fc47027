package broker_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessions walks a KIP-227 session by hand: a full fetch opens
// it, incremental fetches name only what changed and get only what is new,
// a wrong epoch or unknown id is refused, epoch -1 closes it.
func TestFetchSessions(t *testing.T) {
	b := startBroker(t, nil)
	ctx := context.Background()
	topic, err := b.Meta().CreateTopic(ctx, "sess", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Pin partitions with the manual partitioner.
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(p int32, v string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sess", Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, "a")
	produce(1, "b")

	fetch := func(id, epoch int32, parts map[int32]int64, forget []int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		req.SessionID, req.SessionEpoch = id, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "sess", topic.ID
			for p, off := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		if len(forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic, ft.TopicID, ft.Partitions = "sess", topic.ID, forget
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	partsOf := func(resp *kmsg.FetchResponse) map[int32]int {
		out := map[int32]int{}
		for _, rt := range resp.Topics {
			if rt.TopicID != topic.ID {
				t.Fatalf("answer names topic id %x, want %x", rt.TopicID, topic.ID)
			}
			for _, rp := range rt.Partitions {
				out[rp.Partition] = len(rp.RecordBatches)
			}
		}
		return out
	}

	full := fetch(0, 0, map[int32]int64{0: 0, 1: 0}, nil)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("opening fetch: error %d session %d", full.ErrorCode, full.SessionID)
	}
	if got := partsOf(full); len(got) != 2 || got[0] == 0 || got[1] == 0 {
		t.Fatalf("full fetch partitions %v, want both with records", got)
	}
	id := full.SessionID

	// Advance partition 0 only; partition 1 stays at offset 0 in the
	// session and, unchanged, is left out of the answer.
	inc := fetch(id, 1, map[int32]int64{0: 1}, nil)
	if got := partsOf(inc); inc.ErrorCode != 0 || len(got) != 1 || got[1] == 0 {
		t.Fatalf("incremental: error %d partitions %v, want only partition 1 (its records, unchanged offset 0)", inc.ErrorCode, got)
	}
	inc = fetch(id, 2, map[int32]int64{1: 1}, nil)
	if got := partsOf(inc); len(got) != 0 {
		t.Fatalf("nothing new: partitions %v, want none", got)
	}
	// New data on partition 0 shows without naming it.
	produce(0, "c")
	inc = fetch(id, 3, nil, nil)
	if got := partsOf(inc); len(got) != 1 || got[0] == 0 {
		t.Fatalf("after a produce: partitions %v, want partition 0 with records", got)
	}
	// Forget partition 0: new data there no longer shows.
	inc = fetch(id, 4, map[int32]int64{0: 2}, []int32{0})
	produce(0, "d")
	inc = fetch(id, 5, nil, nil)
	if got := partsOf(inc); len(got) != 0 {
		t.Fatalf("after forgetting: partitions %v, want none", got)
	}

	if r := fetch(id, 9, nil, nil); r.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d", r.ErrorCode)
	}
	if r := fetch(id+1, 1, nil, nil); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", r.ErrorCode)
	}
	// Close it: sessionless answers, and the id is gone.
	if r := fetch(id, -1, map[int32]int64{0: 0}, nil); r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("closing fetch: error %d session %d", r.ErrorCode, r.SessionID)
	}
	if r := fetch(id, 6, nil, nil); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d", r.ErrorCode)
	}
}
