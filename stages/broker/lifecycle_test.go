package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/stages/broker"
)

// lifecycleGrace is the vacuum grace of these tests: short, so the vacuum
// can be seen to work, and long enough that commits on a loaded machine
// land within their deadline (half of it).
const lifecycleGrace = 4 * time.Second

// lifecycleConfig makes archives small and frequent, and leaves every
// pass to the test (RunLifecycle).
func lifecycleConfig(c *broker.Config) {
	c.LifecycleInterval = time.Hour
	c.ArchiveBytes = 48 << 10
	c.ArchiveAge = time.Hour
	c.SegmentBytes = 96 << 10
	c.VacuumGrace = lifecycleGrace
}

// produced is what a test produced: value by partition and offset.
type produced map[int32]map[int64]string

func produceRound(t *testing.T, cl *kgo.Client, topic string, round, n int, got produced) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		v := fmt.Sprintf("round %d record %d %s", round, i, strings.Repeat("x", 200+i%300))
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(v)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			if got[r.Partition] == nil {
				got[r.Partition] = map[int64]string{}
			}
			got[r.Partition][r.Offset] = string(r.Value)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkAll consumes the topic from the start through addr and compares
// every record, offset for offset, with what was produced.
func checkAll(t *testing.T, addr, topic string, want produced) []*kgo.Record {
	t.Helper()
	n := 0
	for _, m := range want {
		n += len(m)
	}
	recs := consumeAll(t, addr, topic, n)
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	for _, r := range recs {
		if w, ok := want[r.Partition][r.Offset]; !ok || w != string(r.Value) {
			t.Fatalf("partition %d offset %d: got %.30q, want %.30q (known %v)", r.Partition, r.Offset, r.Value, w, ok)
		}
	}
	return recs
}

func listKeys(t *testing.T, os objstore.Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := os.List(context.Background(), prefix, func(k string, _ int64) bool {
		keys = append(keys, k)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func topicID(t *testing.T, b *broker.Broker, topic string) meta.TopicID {
	t.Helper()
	top, err := b.Meta().Topic(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return top.ID
}

func runPass(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.RunLifecycle(ctx); err != nil {
		t.Fatalf("lifecycle pass: %v", err)
	}
}

// passAfterGrace waits out the vacuum's grace period, so that what earlier
// passes left as garbage may be deleted, then runs pass.
func passAfterGrace(t *testing.T, b *broker.Broker, pass func(*testing.T, *broker.Broker)) {
	t.Helper()
	time.Sleep(lifecycleGrace + 500*time.Millisecond)
	pass(t, b)
}

// runPassRetrying is runPass for the Spanner emulator, which aborts
// concurrent transactions of different clients with errors real Spanner
// does not give ("Invalid transaction ID"): a failed pass is logged and
// run again, as the next periodic pass would; five failures in a row fail.
func runPassRetrying(t *testing.T, b *broker.Broker) {
	t.Helper()
	if err := passRetrying(t, b); err != nil {
		t.Fatal(err)
	}
}

// passRetrying is runPassRetrying without failing the test (goroutines).
func passRetrying(t *testing.T, b *broker.Broker) error {
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := b.RunLifecycle(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if try == 5 {
			return fmt.Errorf("lifecycle pass failed %d times, last: %w", try, err)
		}
		t.Logf("lifecycle pass failed (try %d): %v", try, err)
	}
}

// TestArchiveManyTimes produces for many rounds with an archive pass after
// each, then checks that every record reads back with its offset (through
// this broker and through a fresh one with empty caches), that the index
// rows per partition stayed under a fixed bound, and that the vacuum left
// no intake object behind and exactly the live archive objects.
func TestArchiveManyTimes(t *testing.T) {
	shared := sharedStores(t)
	b := startBroker(t, func(c *broker.Config) {
		shared(c)
		lifecycleConfig(c)
		c.ArchiveBytes, c.ArchiveAge = 16<<10, 2*time.Second
	})
	const topic, parts, rounds = "archived", 3, 25
	createTopic(t, b.Addr(), topic, parts, nil)
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	id := topicID(t, b, topic)
	want := produced{}
	maxRows := 0
	for round := range rounds {
		produceRound(t, cl, topic, round, 150, want)
		for p := int32(0); p < parts; p++ {
			es, err := b.Meta().Entries(context.Background(), metaTP(id, p), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			maxRows = max(maxRows, len(es))
		}
		runPass(t, b)
	}
	st := b.LifecycleStats()
	t.Logf("max index rows per partition %d; %+v", maxRows, st)
	if st.Archives < rounds {
		t.Fatalf("%d archives in %d rounds of %d partitions, want at least %d", st.Archives, rounds, parts, rounds)
	}
	// One archive entry plus one round's intake: a round is ~150 records
	// in at most a few dozen flushes, whatever the number of rounds.
	const bound = 60
	if maxRows > bound {
		t.Fatalf("a partition had %d index rows, want at most %d", maxRows, bound)
	}
	checkAll(t, b.Addr(), topic, want)

	// Everything older than the archive age is archived, and once the
	// grace period has passed the vacuum deletes every intake object and
	// every superseded catalog.
	passAfterGrace(t, b, runPass)
	for p := int32(0); p < parts; p++ {
		es, err := b.Meta().Entries(context.Background(), metaTP(id, p), 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Kind != meta.EntryArchive {
			t.Fatalf("partition %d: entries %+v, want one archive entry", p, es)
		}
	}
	passAfterGrace(t, b, runPass)
	if keys := listKeys(t, b.Objects(), "intake/"); len(keys) != 0 {
		t.Fatalf("%d intake objects left after vacuum, e.g. %s", len(keys), keys[0])
	}
	archive := listKeys(t, b.Objects(), "archive/")
	cats := 0
	for _, k := range archive {
		if strings.HasSuffix(k, ".cat") {
			cats++
		}
	}
	if cats != parts {
		t.Fatalf("%d catalogs left, want one per partition (%d): %v", cats, parts, archive)
	}
	if int64(len(archive)-cats) > st.Segments+int64(parts) {
		t.Fatalf("%d segments left, more than written (%d)", len(archive)-cats, st.Segments)
	}
	// Small segments were merged: per partition at most one segment is
	// under half of SegmentBytes, so the count is bounded by the bytes.
	if st.Merges == 0 {
		t.Fatal("no small segment was merged")
	}
	var segBytes int64
	for _, k := range archive {
		if strings.HasSuffix(k, ".seg") {
			data, err := b.Objects().GetRange(context.Background(), k, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			segBytes += int64(len(data))
		}
	}
	if maxSegs := segBytes/(48<<10) + parts; int64(len(archive)-cats) > maxSegs {
		t.Fatalf("%d segments for %d bytes: small segments not merged (want at most %d)", len(archive)-cats, segBytes, maxSegs)
	}
	recs := checkAll(t, b.Addr(), topic, want)

	// A broker with empty caches reads it all from the archive, and finds
	// offsets by timestamp in it.
	fresh := startBroker(t, func(c *broker.Config) { shared(c); c.LifecycleInterval = -1 })
	checkAll(t, fresh.Addr(), topic, want)
	adm := kadm.NewClient(newClient(t, fresh.Addr()))
	for _, probe := range []int{0, len(recs) / 3, len(recs) / 2, len(recs) - 1} {
		ts := recs[probe].Timestamp.UnixMilli()
		wantOff := map[int32]int64{}
		for _, r := range recs {
			if r.Timestamp.UnixMilli() >= ts {
				if o, ok := wantOff[r.Partition]; !ok || r.Offset < o {
					wantOff[r.Partition] = r.Offset
				}
			}
		}
		got, err := adm.ListOffsetsAfterMilli(context.Background(), ts, topic)
		if err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < parts; p++ {
			o, _ := got.Lookup(topic, p)
			w, ok := wantOff[p]
			if !ok {
				w = int64(len(want[p])) // none at or after ts: the end
			}
			if o.Err != nil || o.Offset != w {
				t.Fatalf("ListOffsets(partition %d, timestamp %d) = %d %v, want %d", p, ts, o.Offset, o.Err, w)
			}
		}
	}
}

// TestRetentionDeletes: retention.bytes advances the log start, a fetch
// below it is OFFSET_OUT_OF_RANGE, and the objects that held the deleted
// offsets are gone after the grace period; retention.ms (set later with
// AlterConfigs) deletes everything older, and DeleteTopics everything.
func TestRetentionDeletes(t *testing.T) {
	b := startBroker(t, lifecycleConfig)
	const topic = "retained"
	createTopic(t, b.Addr(), topic, 1, map[string]*string{"retention.bytes": kmsg.StringPtr("100000")})
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	id := topicID(t, b, topic)
	tp := metaTP(id, 0)
	want := produced{}
	for round := range 12 {
		produceRound(t, cl, topic, round, 100, want)
		runPass(t, b)
	}
	ctx := context.Background()
	st, err := b.Meta().PartitionState(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	if st.LogStart == 0 {
		t.Fatalf("log start did not move: %+v", st)
	}
	t.Logf("after retention.bytes: log start %d, high watermark %d; %+v", st.LogStart, st.HighWatermark, b.LifecycleStats())

	// Kept: at least retention.bytes, and not much more than one archive
	// threshold beyond it.
	es, err := b.Meta().Entries(ctx, tp, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kept int64
	for _, e := range es {
		kept += e.ByteEnd - e.ByteStart
	}
	if kept < 100000 || kept > 100000+200<<10 {
		t.Fatalf("%d bytes kept, want retention.bytes (100000) plus less than a segment or two", kept)
	}

	// ListOffsets earliest is the log start; a fetch below it is out of
	// range.
	adm := kadm.NewClient(newClient(t, b.Addr()))
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup(topic, 0); o.Offset != st.LogStart {
		t.Fatalf("ListOffsets earliest %d, want %d", o.Offset, st.LogStart)
	}
	if code := fetchErrorCode(t, b.Addr(), topic, id, 0); code != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 0: error code %d, want OFFSET_OUT_OF_RANGE", code)
	}
	// What is kept still reads back.
	kept2 := produced{0: {}}
	for o, v := range want[0] {
		if o >= st.LogStart {
			kept2[0][o] = v
		}
	}
	checkAllFrom(t, b.Addr(), topic, kept2, st.LogStart)

	// The objects that held the deleted offsets go once the grace period
	// has passed: only the live ones remain.
	passAfterGrace(t, b, runPass)
	objects := append(listKeys(t, b.Objects(), "intake/"), listKeys(t, b.Objects(), "archive/")...)
	var total int64
	for _, k := range objects {
		data, err := b.Objects().GetRange(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(data))
	}
	if total > 2*(100000+200<<10) {
		t.Fatalf("%d bytes in %d objects left for a topic retaining 100000 bytes", total, len(objects))
	}

	// retention.ms: everything produced before now is older than 1 ms.
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}}, topic)
	if err != nil || alter[0].Err != nil {
		t.Fatalf("alter retention.ms: %v %v", err, alter[0].Err)
	}
	time.Sleep(50 * time.Millisecond)
	runPass(t, b)
	if st, _ := b.Meta().PartitionState(ctx, tp); st.LogStart != st.HighWatermark {
		t.Fatalf("retention.ms=1: log start %d, high watermark %d", st.LogStart, st.HighWatermark)
	}
	passAfterGrace(t, b, runPass)
	if keys := append(listKeys(t, b.Objects(), "intake/"), listKeys(t, b.Objects(), "archive/")...); len(keys) != 0 {
		t.Fatalf("%d objects left after retention.ms expired everything: %v", len(keys), keys)
	}

	// DeleteTopics: produce again (kept forever now), archive, delete;
	// the vacuum removes every object of the topic.
	alter, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("-1")}}, topic)
	if err != nil || alter[0].Err != nil {
		t.Fatalf("alter retention.ms: %v %v", err, alter[0].Err)
	}
	produceRound(t, cl, topic, 100, 300, produced{})
	runPass(t, b)
	if len(listKeys(t, b.Objects(), "archive/")) == 0 {
		t.Fatal("no archive written before DeleteTopics")
	}
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	passAfterGrace(t, b, runPass)
	if keys := append(listKeys(t, b.Objects(), "intake/"), listKeys(t, b.Objects(), "archive/")...); len(keys) != 0 {
		t.Fatalf("%d objects left after DeleteTopics: %v", len(keys), keys)
	}
}

// fetchErrorCode fetches offset of partition 0 with a raw request and
// returns the partition's error code.
func fetchErrorCode(t *testing.T, addr, topic string, id meta.TopicID, offset int64) int16 {
	t.Helper()
	cl := newClient(t, addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 10
	req.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = id // the client picks the version, 13+ names topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = offset
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// checkAllFrom consumes partition 0 of topic from offset and compares.
func checkAllFrom(t *testing.T, addr, topic string, want produced, from int64) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := 0
	for n < len(want[0]) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d from %d", n, len(want[0]), from)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		for _, r := range fs.Records() {
			if w, ok := want[0][r.Offset]; !ok || w != string(r.Value) {
				t.Fatalf("offset %d: got %.30q want %.30q", r.Offset, r.Value, w)
			}
			n++
		}
	}
}

// TestLifecycleOnSpannerTwoBrokers runs the lifecycle on two brokers over
// one Spanner database (the emulator) and one object directory: with two
// archive shards each broker leases one and archives its partitions, the
// other takes everything over when one stops, and everything stays
// readable through either.
func TestLifecycleOnSpannerTwoBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	url := spanneremu.NewDatabase(t)
	objects := "file://" + t.TempDir()
	start := func() *broker.Broker {
		return startBroker(t, func(c *broker.Config) {
			c.Metadata, c.Objects, c.AutoMigrate = url, objects, true
			lifecycleConfig(c)
			c.ArchiveBytes, c.ArchiveAge, c.ArchiveShards = 16<<10, 2*time.Second, 2
			c.Lease = time.Second // registry refreshed every 1/3 s
		})
	}
	a, b := start(), start()
	for _, br := range []*broker.Broker{a, b} {
		waitBrokers(t, br.Addr(), 2)
	}
	const topic, parts = "spanned", 2
	createTopic(t, a.Addr(), topic, parts, nil)
	cl := newClient(t, a.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	want := produced{}
	both := func() {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, br := range []*broker.Broker{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = passRetrying(t, br) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 6 {
		produceRound(t, cl, topic, round, 120, want)
		both()
	}
	sa, sb := a.LifecycleStats(), b.LifecycleStats()
	t.Logf("A %+v\nB %+v", sa, sb)
	if sa.Archives+sb.Archives < 6 || sa.Archives == 0 || sb.Archives == 0 {
		t.Fatalf("archives by A %d, by B %d: want several, by both", sa.Archives, sb.Archives)
	}
	holder, other := a, b
	checkAll(t, other.Addr(), topic, want)

	// One stops (releasing its leases): the other archives everything.
	holder.Close()
	waitBrokers(t, other.Addr(), 1)
	before := other.LifecycleStats().Archives
	cl2 := newClient(t, other.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for round := 6; round < 9; round++ {
		produceRound(t, cl2, topic, round, 120, want)
		runPassRetrying(t, other)
	}
	if got := other.LifecycleStats().Archives - before; got < 2*parts {
		t.Fatalf("the remaining broker archived %d times in 3 rounds of %d partitions: not all taken over", got, parts)
	}
	passAfterGrace(t, other, runPassRetrying)
	passAfterGrace(t, other, runPassRetrying)
	if keys := listKeys(t, other.Objects(), "intake/"); len(keys) != 0 {
		t.Fatalf("%d intake objects left", len(keys))
	}
	checkAll(t, other.Addr(), topic, want)
}

// TestLifecycleUnderFaults runs archive, retention and vacuum passes while
// the object store fails a third of PUTs (half of those after storing the
// object: a lost reply), GETs and DELETEs. Passes fail and are retried;
// nothing acknowledged is lost, and once the faults stop the work
// completes: every record reads back and no intake object is left.
func TestLifecycleUnderFaults(t *testing.T) {
	objs, err := objstore.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := faulty.New(objs, faulty.Config{Seed: 7})
	b := startBroker(t, func(c *broker.Config) {
		c.ObjectStore = fs
		lifecycleConfig(c)
		c.ArchiveBytes, c.ArchiveAge = 16<<10, time.Second
	})
	const topic = "faulty"
	createTopic(t, b.Addr(), topic, 2, nil)
	cl := newClient(t, b.Addr(), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	want := produced{}
	failing := 0
	for round := range 10 {
		produceRound(t, cl, topic, round, 120, want)
		fs.Set(faulty.Config{Seed: uint64(round + 1),
			Put:    faulty.Rule{Prob: 0.33, After: round%2 == 0},
			Get:    faulty.Rule{Prob: 0.33},
			Delete: faulty.Rule{Prob: 0.33}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := b.RunLifecycle(ctx); err != nil {
			failing++
		}
		cancel()
		fs.Set(faulty.Config{})
	}
	st := fs.Stats()
	t.Logf("%d of 10 passes failed; injected %d PUT, %d GET, %d DELETE failures; %+v", failing, st.PutFailures, st.GetFailures, st.DeleteFailures, b.LifecycleStats())
	if st.PutFailures+st.GetFailures == 0 {
		t.Fatal("no fault was injected during the passes")
	}
	checkAll(t, b.Addr(), topic, want)
	passAfterGrace(t, b, runPass)
	passAfterGrace(t, b, runPass)
	if keys := listKeys(t, b.Objects(), "intake/"); len(keys) != 0 {
		t.Fatalf("%d intake objects left after the faults stopped", len(keys))
	}
	checkAll(t, b.Addr(), topic, want)
}

// waitBrokers waits until the broker at addr lists n brokers.
func waitBrokers(t *testing.T, addr string, n int) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	deadline := time.Now().Add(20 * time.Second)
	for {
		bs, err := adm.ListBrokers(context.Background())
		if err == nil && len(bs) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lists %d brokers (%v), want %d", addr, len(bs), err, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The broker's --retention is the default retention.ms clients see, for
// topics and for the broker (log.retention.ms).
func TestRetentionDefaultDescribed(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) { c.Retention, c.RetentionBytes = time.Hour, 1<<30 })
	createTopic(t, b.Addr(), "described", 1, nil)
	adm := kadm.NewClient(newClient(t, b.Addr()))
	ctx := context.Background()
	rcs, err := adm.DescribeTopicConfigs(ctx, "described")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"retention.ms": "3600000", "retention.bytes": "1073741824"}
	for _, c := range rcs[0].Configs {
		if w, ok := want[c.Key]; ok {
			if c.MaybeValue() != w || c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("topic %s = %q (%v), want default %s", c.Key, c.MaybeValue(), c.Source, w)
			}
			delete(want, c.Key)
		}
	}
	if len(want) != 0 {
		t.Fatalf("not described: %v", want)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range bcs[0].Configs {
		if c.Key == "log.retention.ms" {
			found = c.MaybeValue() == "3600000"
		}
	}
	if !found {
		t.Fatal("broker log.retention.ms is not 3600000")
	}
}
