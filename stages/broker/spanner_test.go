package broker_test

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/stages/broker"
)

// rawRequest sends req to exactly the broker at addr (no client routing)
// and returns its answer.
func rawRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	// Version 0 (unset) means the newest version kmsg knows.
	if req.GetVersion() <= 0 || req.GetVersion() > req.MaxVersion() {
		req.SetVersion(req.MaxVersion())
	}
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 1)
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
	frame, err := codec.ReadFrame(c, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	b := frame[4:]
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		b = b[1:] // empty header tags
	}
	if err := resp.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestBrokersShareSpanner runs several brokers, each with its own Spanner
// client, over one Spanner database (the emulator) and one object
// directory: produce through A, fetch through B, group offsets through C,
// and every broker answers the same offsets. A broker started later sees
// the existing topic at once.
func TestBrokersShareSpanner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	url := spanneremu.NewDatabase(t)
	objects := "file://" + t.TempDir()
	start := func() *broker.Broker {
		return startBroker(t, func(c *broker.Config) {
			c.Metadata, c.Objects, c.AutoMigrate = url, objects, true
		})
	}
	a, b, c := start(), start(), start()
	ctx := context.Background()

	createTopic(t, a.Addr(), "shared", 4, nil)
	const n = 3000
	produced := produceAll(t, newClient(t, a.Addr()), "shared", n)

	// Watermarks are identical whichever broker answers.
	latest := func(addr string) map[int32]int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "shared"
		for p := int32(0); p < 4; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := rawRequest(t, addr, req).(*kmsg.ListOffsetsResponse)
		out := map[int32]int64{}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("%s: partition %d error %d", addr, p.Partition, p.ErrorCode)
			}
			out[p.Partition] = p.Offset
		}
		return out
	}
	wa, wb, wc := latest(a.Addr()), latest(b.Addr()), latest(c.Addr())
	for p := int32(0); p < 4; p++ {
		if want := int64(len(produced[p])); wa[p] != want || wb[p] != want || wc[p] != want {
			t.Fatalf("partition %d: latest %d / %d / %d from A / B / C, want %d", p, wa[p], wb[p], wc[p], want)
		}
	}

	// Fetch through B: the records A acknowledged, at the same offsets.
	topic, err := b.Meta().Topic(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	freq := kmsg.NewPtrFetchRequest()
	freq.MaxWaitMillis, freq.MaxBytes = 100, 16<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "shared", topic.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, 0, 16<<20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fresp := rawRequest(t, b.Addr(), freq).(*kmsg.FetchResponse)
	part := fresp.Topics[0].Partitions[0]
	batches, err := codec.SplitBatches(part.RecordBatches)
	if err != nil || part.ErrorCode != 0 {
		t.Fatalf("fetch through B: error %d, %v", part.ErrorCode, err)
	}
	next := int64(0)
	for _, raw := range batches {
		h, err := codec.ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != next {
			t.Fatalf("fetch through B: batch at %d, want %d", h.BaseOffset, next)
		}
		next += int64(h.LastOffsetDelta) + 1
	}
	if next != int64(len(produced[0])) {
		t.Fatalf("fetch through B read offsets up to %d, want %d", next, len(produced[0]))
	}

	// Commit a group offset through C, read it through A.
	creq := kmsg.NewPtrOffsetCommitRequest()
	creq.Group, creq.Generation = "g", -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic, ct.TopicID = "shared", topic.ID
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 2, 17
	ct.Partitions = append(ct.Partitions, cp)
	creq.Topics = append(creq.Topics, ct)
	cresp := rawRequest(t, c.Addr(), creq).(*kmsg.OffsetCommitResponse)
	if code := cresp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit through C: error %d", code)
	}
	oreq := kmsg.NewPtrOffsetFetchRequest()
	oreq.Group = "g"
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic, ot.Partitions = "shared", []int32{2}
	oreq.Topics = append(oreq.Topics, ot)
	oreq.SetVersion(7) // the single-group form
	oresp := rawRequest(t, a.Addr(), oreq).(*kmsg.OffsetFetchResponse)
	if got := oresp.Topics[0].Partitions[0].Offset; got != 17 {
		t.Fatalf("offset committed through C read through A: %d, want 17", got)
	}

	// A broker started now sees the topic at once, with its data.
	d := start()
	checkConsumed(t, d.Addr(), "shared", produced, n)
	cl := newClient(t, d.Addr(), kgo.DefaultProduceTopic("shared"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
