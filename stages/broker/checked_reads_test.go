package broker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/broker"
)

// Checked reads: a byte flipped in an object on disk (the local object
// directory) never reaches a consumer, even one that does not check CRCs.

const (
	checkedTopic = "checked"
	// corruptMarker is the value of the record whose object byte the
	// tests flip (its first byte: 'C' becomes 'c').
	corruptMarker = "CORRUPT-ME-0005"
)

// corruptFixture is a 2-partition topic produced through one broker over
// stores in dir (bbolt and the local object directory), left to the
// tests to corrupt and read through fresh brokers (empty caches: the
// producing broker serves what it wrote from memory).
type corruptFixture struct {
	dir    string
	shared func(*broker.Config)
	meta   meta.Store
	topic  meta.Topic
	// values produced, by partition, in offset order: partition 0's first
	// 10 in one batch ("p0-a-…"), its next 10 in another ("p0-b-…", the
	// corrupt one holds corruptMarker); partition 1's 10 ("p1-…").
	values map[int32][]string
}

func newCorruptFixture(t *testing.T, mutate func(*broker.Config)) *corruptFixture {
	t.Helper()
	ctx := context.Background()
	f := &corruptFixture{dir: t.TempDir(), values: map[int32][]string{}}
	ms, err := meta.Open(ctx, "", f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	objs, err := objstore.Open(ctx, "file://"+f.dir+"/objects")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	f.meta = ms
	f.shared = func(c *broker.Config) {
		c.MetaStore, c.ObjectStore = ms, objs
		c.LifecycleInterval = -1
		if mutate != nil {
			mutate(c)
		}
	}
	producer := startBroker(t, f.shared)
	if f.topic, err = producer.Meta().CreateTopic(ctx, checkedTopic, 2, nil); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, producer.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(20*time.Millisecond))
	produce := func(p int32, vs ...string) {
		t.Helper()
		var recs []*kgo.Record
		for _, v := range vs {
			recs = append(recs, &kgo.Record{Topic: checkedTopic, Partition: p, Value: []byte(v)})
			f.values[p] = append(f.values[p], v)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var a, b, p1 []string
	for i := 0; i < 10; i++ {
		a = append(a, fmt.Sprintf("p0-a-%04d", i))
		p1 = append(p1, fmt.Sprintf("p1-%04d", i))
		b = append(b, fmt.Sprintf("p0-b-%04d", i))
	}
	b[5] = corruptMarker
	produce(0, a...)
	produce(1, p1...)
	produce(0, b...)
	producer.Close()
	return f
}

// corrupt flips the first byte of corruptMarker in every object file
// holding it (an intake object, and a segment once archived) and returns
// how many it changed.
func (f *corruptFixture) corrupt(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(f.dir, "objects"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		i := bytes.Index(b, []byte(corruptMarker))
		if i < 0 {
			return nil
		}
		b[i] ^= 0x20
		n++
		return os.WriteFile(path, b, 0o644)
	})
	if err != nil || n == 0 {
		t.Fatalf("corrupted %d objects: %v", n, err)
	}
	return n
}

// fetchRaw sends one Fetch of both partitions (offsets by partition) and
// returns the answers by partition.
func (f *corruptFixture) fetchRaw(t *testing.T, cl *kgo.Client, offsets map[int32]int64) map[int32]kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = checkedTopic, f.topic.ID
	for p, off := range offsets {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = p
		}
	}
	return out
}

// getAdmin returns the body of an admin endpoint of b.
func getAdmin(t *testing.T, b *broker.Broker, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + b.AdminAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", path, resp.Status, err)
	}
	return body
}

// checkAnswered requires every value of want in the raw answer p, no
// error, and no byte of the corrupt value in either spelling.
func checkAnswered(t *testing.T, what string, p kmsg.FetchResponseTopicPartition, want []string) {
	t.Helper()
	if p.ErrorCode != 0 {
		t.Fatalf("%s: error %v", what, kerr.ErrorForCode(p.ErrorCode))
	}
	for _, v := range want {
		if !bytes.Contains(p.RecordBatches, []byte(v)) {
			t.Fatalf("%s: %q not in the answer", what, v)
		}
	}
	if bytes.Contains(bytes.ToLower(p.RecordBatches), []byte(strings.ToLower(corruptMarker))) {
		t.Fatalf("%s: the corrupt batch was served", what)
	}
}

// consumeChecked reads the topic from the start through addr with
// franz-go, CRC validation off (as librdkafka's default is), keeping the
// retriable errors it would otherwise retry silently: it must get every
// record but the corrupt batch's, each byte for byte as produced, and a
// KAFKA_STORAGE_ERROR for partition 0.
func (f *corruptFixture) consumeChecked(t *testing.T, addr string) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(checkedTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.DisableFetchCRCValidation(), kgo.KeepRetryableFetchErrors())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[string]int32{}
	for p, vs := range f.values {
		for i, v := range vs {
			if p != 0 || i < 10 { // partition 0's second batch is refused
				want[v] = p
			}
		}
	}
	produced := map[string]bool{}
	for _, vs := range f.values {
		for _, v := range vs {
			produced[v] = true
		}
	}
	storageErrs := 0
	for len(want) > 0 || storageErrs < 2 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("missing %d records (%v), %d storage errors", len(want), want, storageErrs)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if p != 0 || !errors.Is(err, kerr.KafkaStorageError) {
				t.Fatalf("fetch %s/%d: %v, want only KAFKA_STORAGE_ERROR on partition 0", topic, p, err)
			}
			storageErrs++
		})
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if !produced[v] {
				t.Fatalf("consumed %q at %d/%d: not a produced value", v, r.Partition, r.Offset)
			}
			if p, ok := want[v]; !ok || p != r.Partition {
				t.Fatalf("consumed %q at %d/%d: not expected there", v, r.Partition, r.Offset)
			}
			delete(want, v)
		})
	}
}

// TestCorruptIntakeNotServed: a byte flipped inside a record value of an
// intake object on disk. A fetch of both partitions answers partition 0
// from that batch with KAFKA_STORAGE_ERROR and partition 1 in full;
// partition 0's batch before it still reads; franz-go without CRC
// checks never gets the corrupt bytes. The broker counts every refusal,
// in /debug/stats and in the metrics.
func TestCorruptIntakeNotServed(t *testing.T) {
	f := newCorruptFixture(t, nil)
	if n := f.corrupt(t); n != 1 {
		t.Fatalf("the marker is in %d objects, want one intake object", n)
	}
	b := startBroker(t, func(c *broker.Config) {
		f.shared(c)
		c.AdminAddr, c.Metrics = "127.0.0.1:0", "prometheus"
	})
	cl := newClient(t, b.Addr())

	parts := f.fetchRaw(t, cl, map[int32]int64{0: 10, 1: 0})
	if code := parts[0].ErrorCode; code != kerr.KafkaStorageError.Code || len(parts[0].RecordBatches) != 0 {
		t.Fatalf("partition 0 from the corrupt batch: %v and %d bytes, want KAFKA_STORAGE_ERROR and none", kerr.ErrorForCode(code), len(parts[0].RecordBatches))
	}
	checkAnswered(t, "partition 1 in the same fetch", parts[1], f.values[1])
	parts = f.fetchRaw(t, cl, map[int32]int64{0: 0})
	checkAnswered(t, "partition 0 from 0", parts[0], f.values[0][:10])

	f.consumeChecked(t, b.Addr())
	var st broker.Stats
	if err := json.Unmarshal(getAdmin(t, b, broker.StatsPath), &st); err != nil {
		t.Fatal(err)
	}
	if st.FetchCorruptIntakeBatches < 3 || st.FetchCorruptArchiveBatches != 0 || st.FetchCheckedBytes == 0 {
		t.Fatalf("%s: corrupt batches counted: intake %d, archive %d; %d bytes checked", broker.StatsPath,
			st.FetchCorruptIntakeBatches, st.FetchCorruptArchiveBatches, st.FetchCheckedBytes)
	}
	if n := metricValue(t, getAdmin(t, b, "/metrics"), "sluice_fetch_corrupt_batches_total", `source="intake"`); n < 3 {
		t.Fatalf("/metrics counts %d corrupt intake batches, want at least 3", n)
	}
}

// metricValue returns the value of the Prometheus series name whose
// labels hold label.
func metricValue(t *testing.T, metrics []byte, name, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\{[^}]*` + regexp.QuoteMeta(label) + `[^}]*\} (\d+)$`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics lacks %s{%s}:\n%s", name, label, metrics)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCorruptSegmentNotServed: the same with the batch archived first,
// then corrupted in the segment (and in the archived intake object,
// which the vacuum has not deleted yet).
func TestCorruptSegmentNotServed(t *testing.T) {
	f := newCorruptFixture(t, func(c *broker.Config) {
		c.LifecycleInterval = time.Hour // passes only when asked
		c.ArchiveBytes, c.ArchiveShards = 1, 1
	})
	archiver := startBroker(t, f.shared)
	if err := archiver.RunLifecycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ls := archiver.LifecycleStats(); ls.Archives != 2 {
		t.Fatalf("archived %d partitions, want 2", ls.Archives)
	}
	archiver.Close()
	if n := f.corrupt(t); n != 2 {
		t.Fatalf("the marker is in %d objects, want the segment and the archived intake object", n)
	}
	b := startBroker(t, f.shared)
	cl := newClient(t, b.Addr())
	parts := f.fetchRaw(t, cl, map[int32]int64{0: 10, 1: 0})
	if code := parts[0].ErrorCode; code != kerr.KafkaStorageError.Code || len(parts[0].RecordBatches) != 0 {
		t.Fatalf("partition 0 from the corrupt batch: %v and %d bytes, want KAFKA_STORAGE_ERROR and none", kerr.ErrorForCode(code), len(parts[0].RecordBatches))
	}
	checkAnswered(t, "partition 1 in the same fetch", parts[1], f.values[1])
	f.consumeChecked(t, b.Addr())
	if st := b.Stats(); st.FetchCorruptArchiveBatches < 3 || st.FetchCorruptIntakeBatches != 0 {
		t.Fatalf("corrupt batches counted: intake %d, archive %d", st.FetchCorruptIntakeBatches, st.FetchCorruptArchiveBatches)
	}
}

// TestLifecycleRefusesCorruptBatch: a pass over a corrupt intake batch
// does not archive that partition (its intake rows stay, nothing is
// lost), counts the refusal, and still archives the other partition.
func TestLifecycleRefusesCorruptBatch(t *testing.T) {
	f := newCorruptFixture(t, func(c *broker.Config) {
		c.LifecycleInterval = time.Hour // passes only when asked
		c.ArchiveBytes, c.ArchiveShards = 1, 1
	})
	f.corrupt(t)
	b := startBroker(t, func(c *broker.Config) {
		f.shared(c)
		c.AdminAddr, c.Metrics = "127.0.0.1:0", "prometheus"
	})
	ctx := context.Background()
	err := b.RunLifecycle(ctx)
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("pass: %v, want a refusal of the corrupt batch", err)
	}
	ls := b.LifecycleStats()
	if ls.CorruptRefused != 1 || ls.Archives != 1 {
		t.Fatalf("lifecycle stats %+v: want one refusal, one partition archived", ls)
	}
	if st := b.Stats(); st.ArchiveCorruptRefused != 1 || st.FetchCorruptIntakeBatches == 0 {
		t.Fatalf("stats: %d refusals, %d corrupt intake batches", st.ArchiveCorruptRefused, st.FetchCorruptIntakeBatches)
	}
	if n := metricValue(t, getAdmin(t, b, "/metrics"), "sluice_lifecycle_corrupt_refused_total", ""); n != 1 {
		t.Fatalf("/metrics counts %d refused archives, want 1", n)
	}
	for p, kind := range map[int32]meta.EntryKind{0: meta.EntryIntake, 1: meta.EntryArchive} {
		es, err := f.meta.Entries(ctx, metaTP(f.topic.ID, p), 0, 0)
		if err != nil || len(es) == 0 {
			t.Fatalf("partition %d entries: %v, %v", p, es, err)
		}
		for _, e := range es {
			if e.Kind != kind {
				t.Fatalf("partition %d: entry %+v, want kind %v", p, e, kind)
			}
		}
	}
	// Nothing was lost: what was readable still is, from the same rows.
	f.consumeChecked(t, b.Addr())
	// The next pass refuses again, without archiving anything twice.
	if err := b.RunLifecycle(ctx); err == nil {
		t.Fatal("second pass archived the corrupt partition")
	}
	if ls := b.LifecycleStats(); ls.CorruptRefused != 2 || ls.Archives != 1 {
		t.Fatalf("after a second pass: %+v", ls)
	}
}

// TestKcatCorruptNotServed: kcat (librdkafka) told not to check CRCs
// (-X check.crcs=false) prints every record but the corrupt batch's,
// never the corrupt value.
func TestKcatCorruptNotServed(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: install it with `apt-get install kcat` (make deps does)")
	}
	f := newCorruptFixture(t, nil)
	f.corrupt(t)
	b := startBroker(t, f.shared)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Not -e: partition 0 never reaches its end. kcat runs until it has
	// printed what it should, and a while longer: long enough for
	// librdkafka to retry the corrupt batch several times.
	cmd := exec.CommandContext(ctx, kcat, "-b", b.Addr(), "-t", checkedTopic, "-C", "-o", "beginning", "-q", "-u",
		"-X", "check.crcs=false", "-X", "fetch.error.backoff.ms=50", "-f", "%p %s\n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, v := range append(f.values[0][:10:10], f.values[1]...) {
		want[v] = true
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var got []string
	deadline := time.After(55 * time.Second)
	var linger <-chan time.Time
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			got = append(got, l)
			_, v, _ := strings.Cut(l, " ")
			delete(want, v)
			if len(want) == 0 && linger == nil {
				linger = time.After(2 * time.Second)
			}
		case <-linger:
			break read
		case <-deadline:
			break read
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, l := range got {
		if strings.Contains(strings.ToLower(l), strings.ToLower(corruptMarker)) || strings.Contains(l, "p0-b-") {
			t.Fatalf("kcat printed %q from the corrupt batch\nall output:\n%s", l, strings.Join(got, "\n"))
		}
	}
	if len(want) > 0 {
		t.Fatalf("kcat did not print %v; printed:\n%s\nstderr:\n%s", want, strings.Join(got, "\n"), stderr.String())
	}
	if st := b.Stats(); st.FetchCorruptIntakeBatches < 2 {
		t.Fatalf("librdkafka retried the corrupt batch %d times, want at least 2", st.FetchCorruptIntakeBatches)
	}
}
