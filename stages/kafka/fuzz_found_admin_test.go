package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Bugs FuzzHandlers found, checked with a real client over TCP.

// TestPartitionsPerRequestBounded: CreateTopics and CreatePartitions of
// 2^31-1 partitions used to write a row per partition in one store
// transaction, growing memory without bound and never answering; like
// Kafka's controller, more than 10,000 new partitions in one request is
// POLICY_VIOLATION, and nothing is created.
func TestPartitionsPerRequestBounded(t *testing.T) {
	_, adm, cl := startBroker(t)
	ctx := testCtx(t)

	resp, err := adm.CreateTopic(ctx, 1<<31-1, 1, nil, "huge")
	if err == nil {
		err = resp.Err
	}
	wantCode(t, "create 2^31-1 partitions", err, kerr.PolicyViolation)
	resp, err = adm.CreateTopic(ctx, 10001, 1, nil, "huge")
	if err == nil {
		err = resp.Err
	}
	wantCode(t, "create 10001 partitions", err, kerr.PolicyViolation)
	if err := topicErr(t, cl, "huge"); err == nil {
		t.Fatal("the refused topic exists")
	}
	// Two topics of one request share the limit.
	res, err := adm.CreateTopics(ctx, 6000, 1, nil, "half-a", "half-b")
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			wantCode(t, "create "+r.Topic, r.Err, kerr.PolicyViolation)
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("%d of two 6,000-partition topics refused, want 1", failed)
	}

	createTopic(t, adm, "grow", 1, nil)
	pr, err := adm.CreatePartitions(ctx, 1<<31-2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "create partitions to 2^31-1", pr["grow"].Err, kerr.PolicyViolation)
	if n, err := topicMeta(t, cl, "grow"); err != nil || n != 1 {
		t.Fatalf("grow has %d partitions (%v), want 1", n, err)
	}
	pr, err = adm.CreatePartitions(ctx, 9999, "grow")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "add 9,999 partitions", pr["grow"].Err, nil)
}
