package kafka

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
)

// writeFuzzSeeds rewrites FuzzHandlers' seed corpus (testdata/fuzz/
// FuzzHandlers/valid-* and the regression inputs below) from
// handlerFuzzSeeds: go test -run TestWriteHandlerFuzzSeeds -write-fuzz-seeds.
var writeFuzzSeeds = flag.Bool("write-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzHandlers seeds")

// fuzzSeed is one FuzzHandlers input: a raw request body at a version.
type fuzzSeed struct {
	name    string
	req     kmsg.Request
	version int16
}

func TestWriteHandlerFuzzSeeds(t *testing.T) {
	seeds := handlerFuzzSeeds(t)
	if !*writeFuzzSeeds {
		// Every registered API has a valid seed, and each parses.
		have := map[int16]bool{}
		for _, sd := range seeds {
			have[sd.req.Key()] = true
		}
		for _, h := range supportedKeys() {
			if !have[h.key] {
				t.Errorf("no FuzzHandlers seed for %s", kmsg.NameForKey(h.key))
			}
		}
		return
	}
	keys := supportedKeys()
	dir := filepath.Join("testdata", "fuzz", "FuzzHandlers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sd := range seeds {
		idx := -1
		for i, h := range keys {
			if h.key == sd.req.Key() {
				idx = i
			}
		}
		h := keys[idx]
		if sd.version < h.minVersion || sd.version > h.maxVersion {
			t.Fatalf("%s: version %d not served", sd.name, sd.version)
		}
		sd.req.SetVersion(sd.version)
		body := sd.req.AppendTo(nil)
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		fmt.Fprintf(&b, "byte(%q)\nbyte(%q)\nbool(false)\n[]byte(%q)\n", byte(idx), byte(sd.version-h.minVersion), body)
		if err := os.WriteFile(filepath.Join(dir, sd.name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// handlerFuzzSeeds is one valid request per registered API (at its newest
// version, or the newest naming topics by name where ids would differ per
// run), naming the fuzz topic and group; then the inputs of bugs the
// fuzzer found, so they stay fixed.
func handlerFuzzSeeds(tb testing.TB) []fuzzSeed {
	tb.Helper()
	topic := fuzzTopic
	group := fuzzGroup
	ts := time.Now().UnixMilli()
	batch, err := codec.AppendBatch(nil, codec.BatchHeader{Magic: 2, FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		[]codec.Record{{Value: []byte("seed")}}, codec.CodecNone)
	if err != nil {
		tb.Fatal(err)
	}

	produceReq := kmsg.NewPtrProduceRequest()
	produceReq.Acks = -1
	produceReq.TimeoutMillis = 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	produceReq.Topics = append(produceReq.Topics, pt)

	fetchReq := kmsg.NewPtrFetchRequest()
	fetchReq.MaxWaitMillis = 10
	fetchReq.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetchReq.Topics = append(fetchReq.Topics, ft)

	listOffsets := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	listOffsets.Topics = append(listOffsets.Topics, lt)

	metadata := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	metadata.Topics = append(metadata.Topics, mt)

	offsetCommit := kmsg.NewPtrOffsetCommitRequest()
	offsetCommit.Group = group
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = topic
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 0
	oct.Partitions = append(oct.Partitions, ocp)
	offsetCommit.Topics = append(offsetCommit.Topics, oct)

	offsetFetch := kmsg.NewPtrOffsetFetchRequest()
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = group
	offsetFetch.Groups = append(offsetFetch.Groups, ofg)

	findCoordinator := kmsg.NewPtrFindCoordinatorRequest()
	findCoordinator.CoordinatorKeys = []string{group}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = 50
	join.RebalanceTimeoutMillis = 50
	join.ProtocolType = "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	jp.Metadata = (&kmsg.ConsumerMemberMetadata{Topics: []string{topic}}).AppendTo(nil)
	join.Protocols = append(join.Protocols, jp)

	heartbeat := kmsg.NewPtrHeartbeatRequest()
	heartbeat.Group = group
	heartbeat.MemberID = "fuzz-member"

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "fuzz-member"
	leave.Members = append(leave.Members, lm)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group = group
	sync.MemberID = "fuzz-member"
	sync.ProtocolType = kmsg.StringPtr("consumer")
	sync.Protocol = kmsg.StringPtr("range")

	describeGroups := kmsg.NewPtrDescribeGroupsRequest()
	describeGroups.Groups = []string{group}

	createTopics := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic = "fuzz-created"
	ct.NumPartitions = 2
	ct.ReplicationFactor = -1
	cc := kmsg.NewCreateTopicsRequestTopicConfig()
	cc.Name, cc.Value = "retention.ms", kmsg.StringPtr("60000")
	ct.Configs = append(ct.Configs, cc)
	createTopics.Topics = append(createTopics.Topics, ct)

	deleteTopics := kmsg.NewPtrDeleteTopicsRequest()
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("fuzz-created")
	deleteTopics.Topics = append(deleteTopics.Topics, dt)
	deleteTopics.TopicNames = []string{"fuzz-created"}

	deleteRecords := kmsg.NewPtrDeleteRecordsRequest()
	drt := kmsg.NewDeleteRecordsRequestTopic()
	drt.Topic = topic
	drp := kmsg.NewDeleteRecordsRequestTopicPartition()
	drp.Offset = 0
	drt.Partitions = append(drt.Partitions, drp)
	deleteRecords.Topics = append(deleteRecords.Topics, drt)

	initProducerID := kmsg.NewPtrInitProducerIDRequest()

	leaderEpoch := kmsg.NewPtrOffsetForLeaderEpochRequest()
	let := kmsg.NewOffsetForLeaderEpochRequestTopic()
	let.Topic = topic
	lep := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	let.Partitions = append(let.Partitions, lep)
	leaderEpoch.Topics = append(leaderEpoch.Topics, let)

	describeConfigs := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType = kmsg.ConfigResourceTypeTopic
	dcr.ResourceName = topic
	describeConfigs.Resources = append(describeConfigs.Resources, dcr)

	alterConfigs := kmsg.NewPtrAlterConfigsRequest()
	acr := kmsg.NewAlterConfigsRequestResource()
	acr.ResourceType = kmsg.ConfigResourceTypeTopic
	acr.ResourceName = topic
	acc := kmsg.NewAlterConfigsRequestResourceConfig()
	acc.Name, acc.Value = "retention.ms", kmsg.StringPtr("86400000")
	acr.Configs = append(acr.Configs, acc)
	alterConfigs.Resources = append(alterConfigs.Resources, acr)

	createPartitions := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic = topic
	cpt.Count = fuzzTopicPartitions + 1
	createPartitions.Topics = append(createPartitions.Topics, cpt)

	deleteGroups := kmsg.NewPtrDeleteGroupsRequest()
	deleteGroups.Groups = []string{group}

	incremental := kmsg.NewPtrIncrementalAlterConfigsRequest()
	icr := kmsg.NewIncrementalAlterConfigsRequestResource()
	icr.ResourceType = kmsg.ConfigResourceTypeTopic
	icr.ResourceName = topic
	icc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	icc.Name, icc.Value = "cleanup.policy", kmsg.StringPtr("delete")
	icc.Op = kmsg.IncrementalAlterConfigOpSet
	icr.Configs = append(icr.Configs, icc)
	incremental.Resources = append(incremental.Resources, icr)

	offsetDelete := kmsg.NewPtrOffsetDeleteRequest()
	offsetDelete.Group = group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = topic
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}
	offsetDelete.Topics = append(offsetDelete.Topics, odt)

	seeds := []fuzzSeed{
		{"valid-produce", produceReq, 12},
		{"valid-fetch", fetchReq, 12},
		{"valid-list-offsets", listOffsets, listOffsets.MaxVersion()},
		{"valid-metadata", metadata, metadata.MaxVersion()},
		{"valid-offset-commit", offsetCommit, 9}, // v10 names topics by id
		{"valid-offset-fetch", offsetFetch, offsetFetch.MaxVersion()},
		{"valid-find-coordinator", findCoordinator, findCoordinator.MaxVersion()},
		{"valid-join-group", join, join.MaxVersion()},
		{"valid-heartbeat", heartbeat, heartbeat.MaxVersion()},
		{"valid-leave-group", leave, leave.MaxVersion()},
		{"valid-sync-group", sync, sync.MaxVersion()},
		{"valid-describe-groups", describeGroups, describeGroups.MaxVersion()},
		{"valid-list-groups", kmsg.NewPtrListGroupsRequest(), kmsg.NewPtrListGroupsRequest().MaxVersion()},
		{"valid-api-versions", kmsg.NewPtrApiVersionsRequest(), 3},
		{"valid-create-topics", createTopics, createTopics.MaxVersion()},
		{"valid-delete-topics", deleteTopics, 5},
		{"valid-delete-records", deleteRecords, deleteRecords.MaxVersion()},
		{"valid-init-producer-id", initProducerID, initProducerID.MaxVersion()},
		{"valid-offset-for-leader-epoch", leaderEpoch, leaderEpoch.MaxVersion()},
		{"valid-describe-configs", describeConfigs, describeConfigs.MaxVersion()},
		{"valid-alter-configs", alterConfigs, alterConfigs.MaxVersion()},
		{"valid-create-partitions", createPartitions, createPartitions.MaxVersion()},
		{"valid-delete-groups", deleteGroups, deleteGroups.MaxVersion()},
		{"valid-incremental-alter-configs", incremental, incremental.MaxVersion()},
		{"valid-offset-delete", offsetDelete, offsetDelete.MaxVersion()},
		{"valid-describe-cluster", kmsg.NewPtrDescribeClusterRequest(), kmsg.NewPtrDescribeClusterRequest().MaxVersion()},
	}
	return append(seeds, regressionSeeds()...)
}

// regressionSeeds are the inputs of bugs FuzzHandlers found, as requests.
func regressionSeeds() []fuzzSeed {
	var seeds []fuzzSeed

	// CreatePartitions to 2^31-1 wrote a row per partition in one store
	// transaction: memory without bound, no answer.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic = fuzzTopic
	cpt.Count = 1<<31 - 1
	cp.Topics = append(cp.Topics, cpt)
	seeds = append(seeds, fuzzSeed{"bug-create-partitions-maxint32", cp, cp.MaxVersion()})

	// CreateTopics with 2^31-1 partitions: the same.
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic = "fuzz-huge"
	ctt.NumPartitions = 1<<31 - 1
	ctt.ReplicationFactor = 1
	ct.Topics = append(ct.Topics, ctt)
	seeds = append(seeds, fuzzSeed{"bug-create-topics-maxint32", ct, ct.MaxVersion()})
	return seeds
}
