package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// offsetCommit sends one OffsetCommit of partition 0 of topic straight to
// the broker cl was seeded with (no coordinator lookup) and returns the
// partition's error code. cl comes from commitClient.
func offsetCommit(ctx context.Context, cl *kgo.Client, group, topic string, offset int64, metadata *string) (int16, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata = 0, offset, metadata
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return 0, err
	}
	r := resp.(*kmsg.OffsetCommitResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("answer %+v", r)
	}
	return r.Topics[0].Partitions[0].ErrorCode, nil
}

// commitClient is a client whose OffsetCommits name topics (versions
// before 10) and are flexible, so a group id may be longer than 32 KiB.
func commitClient(t *testing.T, addr string) *kgo.Client {
	return newClient(t, addr, kgo.MaxVersions(kversion.V4_0_0()))
}

// TestBadOffsetCommitFailsAlone: a client committing offsets of a group
// whose id is over 64 KiB (bbolt refuses keys over 32 KiB), or with
// metadata over offset.metadata.max.bytes, while ten other clients commit
// their own groups' offsets: the bad commits get INVALID_GROUP_ID and
// OFFSET_METADATA_TOO_LARGE, every good one succeeds and reads back.
// Commits of all connections share store transactions, so before the
// bad ones were refused up front they failed the good ones beside them.
func TestBadOffsetCommitFailsAlone(t *testing.T) {
	br := startBroker(t, nil)
	createTopic(t, br.Addr(), "oc", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const goodClients, rounds = 10, 40
	badGroup := strings.Repeat("g", 65<<10)
	bigMetadata := strings.Repeat("m", 4097)
	var wg sync.WaitGroup
	errs := make(chan string, goodClients*rounds+2*rounds)
	stop := make(chan struct{})
	for _, bad := range []struct {
		group    string
		metadata *string
		want     int16
	}{
		{badGroup, nil, kerr.InvalidGroupID.Code},
		{"bad-metadata", &bigMetadata, kerr.OffsetMetadataTooLarge.Code},
	} {
		cl := commitClient(t, br.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, err := offsetCommit(ctx, cl, bad.group, "oc", i, bad.metadata)
				if err != nil || code != bad.want {
					errs <- fmt.Sprintf("bad commit (group of %d bytes): code %d, err %v; want %d", len(bad.group), code, err, bad.want)
					return
				}
			}
		}()
	}
	var good sync.WaitGroup
	for c := range goodClients {
		cl := commitClient(t, br.Addr())
		good.Add(1)
		go func() {
			defer good.Done()
			group := fmt.Sprintf("good-%d", c)
			for i := int64(1); i <= rounds; i++ {
				code, err := offsetCommit(ctx, cl, group, "oc", i, nil)
				if err != nil || code != 0 {
					errs <- fmt.Sprintf("%s commit %d: code %d (%v), err %v", group, i, code, kerr.ErrorForCode(code), err)
					return
				}
			}
		}()
	}
	good.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		return
	}
	adm := newClient(t, br.Addr())
	for c := range goodClients {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = fmt.Sprintf("good-%d", c)
		resp, err := req.RequestWith(ctx, adm)
		if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].Offset != rounds {
			t.Fatalf("%s: offsets %+v, err %v; want %d", req.Group, resp, err, rounds)
		}
	}
}
