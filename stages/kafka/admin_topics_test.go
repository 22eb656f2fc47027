package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminCreateDescribeDeleteTopics(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)

	resps, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000")}, "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "payments"} {
		r, ok := resps[name]
		if !ok || r.Err != nil {
			t.Fatalf("create %s: %+v", name, r)
		}
		if r.NumPartitions != 3 || r.ReplicationFactor != 1 || r.ID == (kadm.TopicID{}) {
			t.Fatalf("create %s answered %+v", name, r)
		}
	}

	tds, err := adm.ListTopics(ctx, "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tds["orders"].Partitions); got != 3 {
		t.Fatalf("orders has %d partitions, want 3", got)
	}
	if tds["orders"].ID != resps["orders"].ID {
		t.Fatalf("metadata id %v != created id %v", tds["orders"].ID, resps["orders"].ID)
	}

	// Errors.
	r, _ := adm.CreateTopic(ctx, 1, 1, nil, "orders")
	wantCode(t, "existing", r.Err, kerr.TopicAlreadyExists)
	r, _ = adm.CreateTopic(ctx, 1, 1, nil, "bad/name")
	wantCode(t, "invalid name", r.Err, kerr.InvalidTopicException)
	if r.ErrMessage == "" {
		t.Fatal("invalid name: no message")
	}
	r, _ = adm.CreateTopic(ctx, 1, 1, nil, "orders_")
	wantCode(t, "valid name", r.Err, nil)
	r, _ = adm.CreateTopic(ctx, 1, 1, nil, "orders.")
	wantCode(t, "colliding name", r.Err, kerr.InvalidTopicException)
	r, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": kmsg.StringPtr("1")}, "t1")
	wantCode(t, "unknown config", r.Err, kerr.InvalidConfig)
	r, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("soon")}, "t1")
	wantCode(t, "bad config value", r.Err, kerr.InvalidConfig)
	r, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "t1")
	wantCode(t, "compaction", r.Err, kerr.InvalidConfig)
	r, _ = adm.CreateTopic(ctx, 0, 1, nil, "t1")
	wantCode(t, "0 partitions", r.Err, kerr.InvalidPartitions)
	r, _ = adm.CreateTopic(ctx, -2, 1, nil, "t1")
	wantCode(t, "-2 partitions", r.Err, kerr.InvalidPartitions)
	r, _ = adm.CreateTopic(ctx, 1, 3, nil, "t1")
	wantCode(t, "rf 3", r.Err, kerr.InvalidReplicationFactor)
	r, _ = adm.CreateTopic(ctx, 1, 0, nil, "t1")
	wantCode(t, "rf 0", r.Err, kerr.InvalidReplicationFactor)

	// Defaults: -1 partitions is num.partitions (1), -1 rf is 1.
	r, _ = adm.CreateTopic(ctx, -1, -1, nil, "defaults")
	wantCode(t, "defaults", r.Err, nil)
	if r.NumPartitions != 1 || r.ReplicationFactor != 1 {
		t.Fatalf("defaults: %+v", r)
	}

	// Validate only: answers but creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, "dry")
	if err != nil || vr["dry"].Err != nil || vr["dry"].NumPartitions != 2 {
		t.Fatalf("validate only: %v %+v", err, vr["dry"])
	}
	vr, _ = adm.ValidateCreateTopics(ctx, 2, 1, nil, "orders")
	wantCode(t, "validate existing", vr["orders"].Err, kerr.TopicAlreadyExists)
	wantCode(t, "dry run created nothing", topicErr(t, cl, "dry"), kerr.UnknownTopicOrPartition)

	// Raw request: duplicate names, configs in the answer (v5+).
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range []string{"dup", "dup", "withcfg"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 2, -1
		if name == "withcfg" {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = "retention.bytes", kmsg.StringPtr("12345")
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	cresp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(cresp.Topics) != 2 {
		t.Fatalf("want 2 answers (dup once, withcfg), got %d", len(cresp.Topics))
	}
	for _, st := range cresp.Topics {
		switch st.Topic {
		case "dup":
			if st.ErrorCode != kerr.InvalidRequest.Code {
				t.Fatalf("dup: code %d", st.ErrorCode)
			}
		case "withcfg":
			if st.ErrorCode != 0 || st.NumPartitions != 2 || st.ReplicationFactor != 1 {
				t.Fatalf("withcfg: %+v", st)
			}
			found := 0
			for _, c := range st.Configs {
				switch c.Name {
				case "retention.bytes":
					found++
					if *c.Value != "12345" || c.Source != int8(kmsg.ConfigSourceDynamicTopicConfig) {
						t.Fatalf("retention.bytes: %q source %d", *c.Value, c.Source)
					}
				case "retention.ms":
					found++
					if *c.Value != "604800000" || c.Source != int8(kmsg.ConfigSourceDefaultConfig) {
						t.Fatalf("retention.ms: %q source %d", *c.Value, c.Source)
					}
				}
			}
			if found != 2 {
				t.Fatalf("configs in answer: %+v", st.Configs)
			}
		default:
			t.Fatalf("unexpected topic %q", st.Topic)
		}
	}
	wantCode(t, "dup not created", topicErr(t, cl, "dup"), kerr.UnknownTopicOrPartition)

	// Delete.
	dr, err := adm.DeleteTopics(ctx, "orders", "nosuch")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "delete orders", dr["orders"].Err, nil)
	wantCode(t, "delete unknown", dr["nosuch"].Err, kerr.UnknownTopicOrPartition)
	wantCode(t, "deleted topic", topicErr(t, cl, "orders"), kerr.UnknownTopicOrPartition)
	r, _ = adm.CreateTopic(ctx, 1, 1, nil, "orders")
	wantCode(t, "recreate", r.Err, nil)

	// Delete by id (v6).
	pid := resps["payments"].ID
	dreq := kmsg.NewPtrDeleteTopicsRequest()
	for _, id := range [][16]byte{pid, {1, 2, 3}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		dreq.Topics = append(dreq.Topics, rt)
	}
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dresp.Topics) != 2 {
		t.Fatalf("delete by id: %d answers", len(dresp.Topics))
	}
	if st := dresp.Topics[0]; st.ErrorCode != 0 || st.Topic == nil || *st.Topic != "payments" || st.TopicID != pid {
		t.Fatalf("delete payments by id: %+v", st)
	}
	if st := dresp.Topics[1]; st.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("delete unknown id: code %d", st.ErrorCode)
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)
	createTopic(t, adm, "grow", 2, nil)

	r, err := adm.CreatePartitions(ctx, 3, "grow")
	if err != nil || r["grow"].Err != nil {
		t.Fatalf("add 3: %v %+v", err, r["grow"])
	}
	if n, _ := topicMeta(t, cl, "grow"); n != 5 {
		t.Fatalf("grow has %d partitions, want 5", n)
	}

	r, _ = adm.UpdatePartitions(ctx, 5, "grow")
	wantCode(t, "same count", r["grow"].Err, kerr.InvalidPartitions)
	if r["grow"].ErrMessage == "" {
		t.Fatal("same count: no message")
	}
	r, _ = adm.UpdatePartitions(ctx, 4, "grow")
	wantCode(t, "lower count", r["grow"].Err, kerr.InvalidPartitions)
	r, _ = adm.CreatePartitions(ctx, 1, "nosuch")
	wantCode(t, "unknown topic", r["nosuch"].Err, kerr.UnknownTopicOrPartition)

	r, _ = adm.ValidateUpdatePartitions(ctx, 9, "grow")
	wantCode(t, "validate only", r["grow"].Err, nil)
	if n, _ := topicMeta(t, cl, "grow"); n != 5 {
		t.Fatalf("validate only changed the count to %d", n)
	}

	// The new partitions work: produce to partition 4 and list its end.
	produce(t, cl, &kgo.Record{Topic: "grow", Partition: 4, Value: []byte("x")})
	lo, err := adm.ListEndOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := lo.Lookup("grow", 4); o.Offset != 1 {
		t.Fatalf("end offset of new partition: %+v", o)
	}

	// Duplicates in one request.
	req := kmsg.NewPtrCreatePartitionsRequest()
	for range 2 {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", 10
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range resp.Topics {
		if st.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("duplicate: code %d", st.ErrorCode)
		}
	}
}

// Deleting a topic removes its committed offsets from every group, and
// only its: a topic created again under the name starts with none.
func TestDeleteTopicDropsGroupOffsets(t *testing.T) {
	_, adm, _ := startBroker(t)
	ctx := testCtx(t)
	for _, name := range []string{"gone", "kept"} {
		if r, err := adm.CreateTopic(ctx, 2, 1, nil, name); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", name, err, r.Err)
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "gone", Partition: 0, At: 0, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: "kept", Partition: 1, At: 0, LeaderEpoch: -1})
	for _, g := range []string{"g1", "g2"} {
		resp, err := adm.CommitOffsets(ctx, g, offs)
		if err != nil || resp.Error() != nil {
			t.Fatalf("commit %s: %v %v", g, err, resp.Error())
		}
	}
	if _, err := adm.DeleteTopics(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if r, err := adm.CreateTopic(ctx, 2, 1, nil, "gone"); err != nil || r.Err != nil {
		t.Fatalf("create again: %v %v", err, r.Err)
	}
	for _, g := range []string{"g1", "g2"} {
		got, err := adm.FetchOffsets(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := got.Lookup("gone", 0); ok && o.At >= 0 {
			t.Fatalf("%s: offset of the deleted topic survived: %+v", g, o)
		}
		if o, ok := got.Lookup("kept", 1); !ok || o.At != 0 {
			t.Fatalf("%s: offset of the other topic lost: %+v %v", g, o, ok)
		}
	}
}
