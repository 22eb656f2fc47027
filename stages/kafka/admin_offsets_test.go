package kafka_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOne lists one partition's offset for a timestamp with a raw
// request, returning the partition's answer.
func listOne(t *testing.T, cl *kgo.Client, topic string, partition int32, ts int64, currentEpoch int32) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, ts, currentEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// Straight to the broker: the client would refuse to route a request
	// for a partition it does not know.
	kresp, err := kgoRequest(t, cl, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func wantListed(t *testing.T, what string, got kmsg.ListOffsetsResponseTopicPartition, code int16, offset, ts int64) {
	t.Helper()
	if got.ErrorCode != code || got.Offset != offset || got.Timestamp != ts {
		t.Fatalf("%s: got code %d offset %d timestamp %d, want code %d offset %d timestamp %d", what, got.ErrorCode, got.Offset, got.Timestamp, code, offset, ts)
	}
	if code == 0 && got.LeaderEpoch != 0 {
		t.Fatalf("%s: leader epoch %d", what, got.LeaderEpoch)
	}
}

func wantKadmListed(t *testing.T, what string, lo kadm.ListedOffsets, err error, topic string, offset, ts int64) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	o, ok := lo.Lookup(topic, 0)
	if !ok || o.Err != nil || o.Offset != offset || o.Timestamp != ts {
		t.Fatalf("%s: got %+v, want offset %d timestamp %d", what, o, offset, ts)
	}
}

func TestAdminListOffsetsAndDeleteRecords(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "lo", 1, nil)

	// Empty partition.
	wantListed(t, "empty earliest", listOne(t, cl, "lo", 0, -2, -1), 0, 0, -1)
	wantListed(t, "empty latest", listOne(t, cl, "lo", 0, -1, -1), 0, 0, -1)
	wantListed(t, "empty max timestamp", listOne(t, cl, "lo", 0, -3, -1), 0, -1, -1)
	wantListed(t, "empty by time", listOne(t, cl, "lo", 0, 0, -1), 0, -1, -1)

	base := time.Now().Add(-time.Hour).UnixMilli()
	rec := func(delta int64) *kgo.Record {
		return &kgo.Record{Topic: "lo", Value: []byte(strconv.FormatInt(delta, 10)), Timestamp: time.UnixMilli(base + delta)}
	}
	// Offsets 0-2 then 3-4, in two produce requests (two batches).
	produce(t, cl, rec(1000), rec(3000), rec(2000))
	produce(t, cl, rec(5000), rec(4000))

	lo, err := adm.ListStartOffsets(ctx, "lo")
	wantKadmListed(t, "earliest", lo, err, "lo", 0, -1)
	lo, err = adm.ListEndOffsets(ctx, "lo")
	wantKadmListed(t, "latest", lo, err, "lo", 5, -1)
	lo, err = adm.ListMaxTimestampOffsets(ctx, "lo")
	wantKadmListed(t, "max timestamp", lo, err, "lo", 3, base+5000)
	for _, tc := range []struct {
		at, offset, ts int64
	}{
		{0, 0, base + 1000},
		{1000, 0, base + 1000},
		{1001, 1, base + 3000},
		{2500, 1, base + 3000},
		{3500, 3, base + 5000},
		{4500, 3, base + 5000},
		{5000, 3, base + 5000},
	} {
		lo, err = adm.ListOffsetsAfterMilli(ctx, base+tc.at, "lo")
		wantKadmListed(t, "after +"+strconv.FormatInt(tc.at, 10), lo, err, "lo", tc.offset, tc.ts)
	}
	wantListed(t, "after every record", listOne(t, cl, "lo", 0, base+5001, -1), 0, -1, -1)
	wantListed(t, "earliest local", listOne(t, cl, "lo", 0, -4, -1), 0, 0, -1)
	wantListed(t, "latest tiered", listOne(t, cl, "lo", 0, -5, -1), 0, 5, -1)
	wantListed(t, "earliest pending upload", listOne(t, cl, "lo", 0, -6, -1), 0, -1, -1)
	wantListed(t, "unknown special", listOne(t, cl, "lo", 0, -7, -1), kerr.UnsupportedVersion.Code, -1, -1)
	wantListed(t, "current epoch 0", listOne(t, cl, "lo", 0, -1, 0), 0, 5, -1)
	wantListed(t, "newer epoch", listOne(t, cl, "lo", 0, -1, 1), kerr.UnknownLeaderEpoch.Code, -1, -1)
	wantListed(t, "unknown partition", listOne(t, cl, "lo", 1, -1, -1), kerr.UnknownTopicOrPartition.Code, -1, -1)
	wantListed(t, "unknown topic", listOne(t, cl, "nosuch", 0, -1, -1), kerr.UnknownTopicOrPartition.Code, -1, -1)

	// A partition listed twice.
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	for range 2 {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("duplicate partition: code %d", p.ErrorCode)
		}
	}

	// DeleteRecords moves the earliest offset, inside a batch too.
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := dr.Lookup("lo", 0); !ok || d.Err != nil || d.LowWatermark != 2 {
		t.Fatalf("delete records to 2: %+v", d)
	}
	lo, err = adm.ListStartOffsets(ctx, "lo")
	wantKadmListed(t, "earliest after delete", lo, err, "lo", 2, -1)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base, "lo")
	wantKadmListed(t, "after base, after delete", lo, err, "lo", 2, base+2000)
	lo, err = adm.ListOffsetsAfterMilli(ctx, base+2500, "lo")
	wantKadmListed(t, "after +2500, after delete", lo, err, "lo", 3, base+5000)
	lo, err = adm.ListMaxTimestampOffsets(ctx, "lo")
	wantKadmListed(t, "max timestamp after delete", lo, err, "lo", 3, base+5000)

	// Below the log start: unchanged.
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 1}}})
	if d, _ := dr.Lookup("lo", 0); d.Err != nil || d.LowWatermark != 2 {
		t.Fatalf("delete records to 1: %+v", d)
	}
	// Errors.
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 6}}})
	if d, _ := dr.Lookup("lo", 0); d.Err != kerr.OffsetOutOfRange {
		t.Fatalf("delete records past the end: %+v", d)
	}
	dreq := kmsg.NewPtrDeleteRecordsRequest()
	for _, name := range []string{"lo", "nosuch"} {
		drt := kmsg.NewDeleteRecordsRequestTopic()
		drt.Topic = name
		drp := kmsg.NewDeleteRecordsRequestTopicPartition()
		drp.Partition, drp.Offset = 3, 0
		if name == "nosuch" {
			drp.Partition = 0
		}
		drt.Partitions = append(drt.Partitions, drp)
		dreq.Topics = append(dreq.Topics, drt)
	}
	kresp, err := kgoRequest(t, cl, dreq)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range kresp.(*kmsg.DeleteRecordsResponse).Topics {
		if st.Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("delete records %s: code %d", st.Topic, st.Partitions[0].ErrorCode)
		}
	}

	// -1: everything.
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: -1}}})
	if d, _ := dr.Lookup("lo", 0); d.Err != nil || d.LowWatermark != 5 {
		t.Fatalf("delete records to the end: %+v", d)
	}
	wantListed(t, "earliest after delete all", listOne(t, cl, "lo", 0, -2, -1), 0, 5, -1)
	wantListed(t, "by time after delete all", listOne(t, cl, "lo", 0, base, -1), 0, -1, -1)
	// The max timestamp batch is gone: its last offset answers.
	wantListed(t, "max timestamp after delete all", listOne(t, cl, "lo", 0, -3, -1), 0, 4, base+5000)
}

func TestAdminListOffsetsLogAppendTime(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "lat", 1, map[string]*string{"message.timestamp.type": kmsg.StringPtr("LogAppendTime")})
	before := time.Now().Add(-time.Second).UnixMilli()
	old := time.Now().Add(-24 * time.Hour)
	produce(t, cl, &kgo.Record{Topic: "lat", Value: []byte("a"), Timestamp: old}, &kgo.Record{Topic: "lat", Value: []byte("b"), Timestamp: old})
	lo, err := adm.ListOffsetsAfterMilli(ctx, before, "lat")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := lo.Lookup("lat", 0)
	if o.Err != nil || o.Offset != 0 || o.Timestamp < before || o.Timestamp > time.Now().UnixMilli() {
		t.Fatalf("log append time: %+v (before %d)", o, before)
	}
}

func TestAdminIdempotentProduceAndInitProducerID(t *testing.T) {
	addr, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "idem", 1, nil)

	// kgo producers are idempotent by default: InitProducerId runs first.
	for i := range 3 {
		produce(t, cl, &kgo.Record{Topic: "idem", Value: []byte{byte(i)}})
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("idem"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// A short long poll: the broker's Close waits for in-flight fetches.
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var recs []*kgo.Record
	for len(recs) < 3 && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := consumer.PollFetches(pctx)
		cancel()
		if err := fs.Err0(); err != nil && err != context.DeadlineExceeded {
			t.Fatalf("poll: %v", err)
		}
		recs = append(recs, fs.Records()...)
	}
	if len(recs) != 3 {
		t.Fatalf("consumed %d records", len(recs))
	}
	for i, r := range recs {
		if r.Offset != int64(i) || r.ProducerID < 0 || r.ProducerEpoch != 0 || r.ProducerID != recs[0].ProducerID {
			t.Fatalf("record %d: offset %d producer %d epoch %d", i, r.Offset, r.ProducerID, r.ProducerEpoch)
		}
	}

	initPID := func(version int16, txnID *string, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = version
		req.TransactionalID = txnID
		req.ProducerID, req.ProducerEpoch = id, epoch
		resp, err := kgoRequestVersioned(t, cl, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.InitProducerIDResponse)
	}
	a := initPID(4, nil, -1, -1)
	b := initPID(4, nil, -1, -1)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || a.ProducerEpoch != 0 || b.ProducerEpoch != 0 || a.ProducerID == b.ProducerID || a.ProducerID == recs[0].ProducerID {
		t.Fatalf("new ids: %+v %+v", a, b)
	}
	if v0 := initPID(0, nil, 0, 0); v0.ErrorCode != 0 || v0.ProducerEpoch != 0 || v0.ProducerID <= b.ProducerID {
		t.Fatalf("v0: %+v", v0)
	}
	// KIP-360 bump.
	if r := initPID(4, nil, a.ProducerID, 0); r.ErrorCode != 0 || r.ProducerID != a.ProducerID || r.ProducerEpoch != 1 {
		t.Fatalf("bump: %+v", r)
	}
	if r := initPID(4, nil, a.ProducerID, 0); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale bump: %+v", r)
	}
	if r := initPID(4, nil, a.ProducerID, 32766); r.ErrorCode != 0 || r.ProducerID == a.ProducerID || r.ProducerEpoch != 0 {
		t.Fatalf("exhausted epoch: %+v", r)
	}
	if r := initPID(4, nil, a.ProducerID, -1); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("id without epoch: %+v", r)
	}
	if r := initPID(4, kmsg.StringPtr("txn"), -1, -1); r.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional: %+v", r)
	}
	if r := initPID(4, kmsg.StringPtr(""), -1, -1); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty transactional id: %+v", r)
	}
}

// kgoRequestVersioned sends req at its own version (kgo would otherwise
// pick the newest both sides support).
func kgoRequestVersioned(t *testing.T, cl *kgo.Client, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	return kgoRequest(t, cl, pinnedRequest{req})
}

// pinnedRequest keeps a request at the version it was given.
type pinnedRequest struct{ kmsg.Request }

func (p pinnedRequest) MaxVersion() int16 { return p.Request.GetVersion() }

func TestAdminOffsetForLeaderEpoch(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "ofle", 2, nil)
	produce(t, cl, &kgo.Record{Topic: "ofle", Value: []byte("a")}, &kgo.Record{Topic: "ofle", Value: []byte("b")})

	var req kadm.OffsetForLeaderEpochRequest
	req.Add("ofle", 0, 0)
	req.Add("ofle", 1, 7)
	resp, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp["ofle"][0]; r.Err != nil || r.LeaderEpoch != 0 || r.EndOffset != 2 {
		t.Fatalf("partition 0: %+v", r)
	}
	if r := resp["ofle"][1]; r.Err != nil || r.LeaderEpoch != 0 || r.EndOffset != 0 {
		t.Fatalf("partition 1: %+v", r)
	}

	raw := func(topic string, partition, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := kgoRequest(t, cl, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	if r := raw("ofle", 5, -1, 0); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("partition 5: %+v", r)
	}
	if r := raw("nosuch", 0, -1, 0); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", r)
	}
	if r := raw("ofle", 0, 1, 0); r.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("newer current epoch: %+v", r)
	}
	if r := raw("ofle", 0, 0, 0); r.ErrorCode != 0 || r.EndOffset != 2 || r.LeaderEpoch != 0 {
		t.Fatalf("current epoch 0: %+v", r)
	}
	if r := raw("ofle", 0, -1, -1); r.ErrorCode != 0 || r.EndOffset != -1 || r.LeaderEpoch != -1 {
		t.Fatalf("undefined epoch: %+v", r)
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	addr, _, cl := startBroker(t)
	ctx := testCtx(t)
	host, port, _ := net.SplitHostPort(addr)

	mreq := kmsg.NewPtrMetadataRequest()
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}

	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 || len(resp.Brokers) != 1 || mresp.ClusterID == nil || resp.ClusterID != *mresp.ClusterID || resp.ClusterID == "" || resp.ControllerID != 0 {
		t.Fatalf("describe cluster: %+v", resp)
	}
	if b := resp.Brokers[0]; b.NodeID != 0 || b.Host != host || strconv.Itoa(int(b.Port)) != port || b.Rack != nil {
		t.Fatalf("broker: %+v (want %s)", b, addr)
	}
	if resp.ClusterAuthorizedOperations != -2147483648 {
		t.Fatalf("authorized operations not asked for: %d", resp.ClusterAuthorizedOperations)
	}

	req.IncludeClusterAuthorizedOperations = true
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ClusterAuthorizedOperations != 8096 {
		t.Fatalf("authorized operations: %d", resp.ClusterAuthorizedOperations)
	}

	req.EndpointType = 2
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedEndpointType.Code || len(resp.Brokers) != 0 {
		t.Fatalf("controller endpoints: %+v", resp)
	}
}
