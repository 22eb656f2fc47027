package broker_test

// The front end's limits (stages/kafka/limits.go, conn.go): request bytes
// read in pieces against queued.max.request.bytes, the partial-request and
// idle timeouts, max.connections(.per.ip), the broker's fetch.max.bytes,
// and acks=0 failures closing the connection. Real sockets and franz-go
// against a broker started in this process.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/stages/broker"
)

// memBroker is startBroker over in-memory stores (these tests are about
// the front end, not the stores).
func memBroker(t *testing.T, mutate func(*broker.Config)) *broker.Broker {
	t.Helper()
	return startBroker(t, func(c *broker.Config) {
		c.Objects, c.Metadata = "mem://", "mem://"
		if mutate != nil {
			mutate(c)
		}
	})
}

// rawDial connects to addr from local (nil: any address).
func rawDial(t *testing.T, addr string, local net.IP) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawRoundTrip sends req on c and reads its answer.
func rawRoundTrip(c net.Conn, req kmsg.Request, corr int32) (kmsg.Response, error) {
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("limits-test")).AppendRequest(nil, req, corr)
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	body, err := codec.ReadFrame(c, 1<<30)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body = body[4:] // correlation id
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty tagged fields
	}
	return resp, resp.ReadFrom(body)
}

func apiVersions(c net.Conn) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "limits-test", "1"
	_, err := rawRoundTrip(c, req, 1)
	return err
}

// waitClosed fails unless the broker closes c within d.
func waitClosed(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		var ne net.Error
		switch {
		case err == nil:
			continue // an answer owed from before
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("connection still open after %v", d)
		}
		return time.Since(start)
	}
}

// stillOpen fails unless c is open and serving.
func stillOpen(t *testing.T, c net.Conn, what string) {
	t.Helper()
	if err := apiVersions(c); err != nil {
		t.Fatalf("%s: connection not serving: %v", what, err)
	}
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC() // the second also empties sync.Pool victims
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestStalledLargeFramesStayBounded: 20 clients each announce a 100 MiB
// request, send 2 MiB of it and stall. Reading frames allocated from the
// size prefix after the first MiB, that pinned 2 GiB; read in pieces as
// bytes arrive, they hold what they sent. Meanwhile a franz-go client
// produces and consumes normally.
func TestStalledLargeFramesStayBounded(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) { c.RequestReadTimeout = 5 * time.Minute })
	createTopic(t, b.Addr(), "normal", 1, nil)
	before := heapInuse()

	const stalled, sent = 20, 2 << 20
	var wg sync.WaitGroup
	for range stalled {
		c := rawDial(t, b.Addr(), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := binary.BigEndian.AppendUint32(nil, 100<<20)
			msg = append(msg, make([]byte, sent)...)
			_, _ = c.Write(msg)
		}()
	}
	wg.Wait()
	waitFor(t, "the stalled bytes to be read", 10*time.Second, func() bool { return b.Stats().RequestBytesInUse >= stalled*sent })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("normal"), kgo.ConsumeTopics("normal"), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	const n = 200
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "record-%d", i)}).FirstErr(); err != nil {
			t.Fatalf("normal produce: %v", err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("normal consume: %v", err)
		}
		got += fs.NumRecords()
	}

	after := heapInuse()
	growth := int64(after) - int64(before)
	t.Logf("heap in use: %d MiB before, %d MiB after %d stalled 100 MiB frames (%d MiB sent each): growth %d MiB; request bytes in use %d MiB",
		before>>20, after>>20, stalled, sent>>20, growth>>20, b.Stats().RequestBytesInUse>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew %d MiB with %d stalled frames", growth>>20, stalled)
	}
}

// TestPartialRequestTimesOut: a request begun and not finished within
// --request-read-timeout closes the connection; a connection that sends
// nothing is idle, not late, and stays open.
func TestPartialRequestTimesOut(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) { c.RequestReadTimeout = 300 * time.Millisecond })
	quiet := rawDial(t, b.Addr(), nil)
	small := rawDial(t, b.Addr(), nil)
	large := rawDial(t, b.Addr(), nil)
	if _, err := small.Write(append(binary.BigEndian.AppendUint32(nil, 100), 0, 18, 0, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := large.Write(append(binary.BigEndian.AppendUint32(nil, 8<<20), make([]byte, 3<<20)...)); err != nil {
		t.Fatal(err)
	}
	took := waitClosed(t, small, 5*time.Second)
	waitClosed(t, large, 5*time.Second)
	t.Logf("partial request closed after %v", took)
	time.Sleep(500 * time.Millisecond)
	stillOpen(t, quiet, "a connection that sent nothing")
	if got := b.Stats().ConnCloses.ReadTimeout; got != 2 {
		t.Fatalf("read timeouts counted %d, want 2", got)
	}
	waitFor(t, "the partial requests' bytes to be released", 10*time.Second, func() bool { return b.Stats().RequestBytesInUse == 0 })
}

// TestIdleConnectionsClose: a connection with nothing going on closes after
// --connections-max-idle; one waiting for a long poll is not idle.
func TestIdleConnectionsClose(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) { c.ConnectionsMaxIdle = 300 * time.Millisecond })
	createTopic(t, b.Addr(), "polled", 1, nil)

	idle := rawDial(t, b.Addr(), nil)
	stillOpen(t, idle, "a new connection")
	took := waitClosed(t, idle, 5*time.Second)
	t.Logf("idle connection closed %v after its last answer", took)
	if took < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the idle time", took)
	}

	polling := rawDial(t, b.Addr(), nil)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis = 1500
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.SessionEpoch = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "polled"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	start := time.Now()
	resp, err := rawRoundTrip(polling, req, 2)
	if err != nil {
		t.Fatalf("long poll of 1.5 s on a connection idle after 300 ms: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("long poll answered after %v (error %d), not after its wait", waited, resp.(*kmsg.FetchResponse).ErrorCode)
	}
	if got := b.Stats().ConnCloses.Idle; got < 1 {
		t.Fatalf("idle closes counted %d, want at least 1 (the clients of createTopic idle too)", got)
	}
}

// TestMaxConnections: over --max-connections or --max-connections-per-ip
// a connection is accepted and closed at once. 127.0.0.1 and 127.0.0.2 are
// both loopback, so they are two client IPs here.
func TestMaxConnections(t *testing.T) {
	t.Run("broker", func(t *testing.T) {
		b := memBroker(t, func(c *broker.Config) { c.MaxConnections = 3 })
		var open []net.Conn
		for range 3 {
			c := rawDial(t, b.Addr(), nil)
			stillOpen(t, c, "under the limit")
			open = append(open, c)
		}
		waitClosed(t, rawDial(t, b.Addr(), nil), 5*time.Second)
		if got := b.Stats().ConnCloses.MaxConnections; got != 1 {
			t.Fatalf("refusals counted %d, want 1", got)
		}
		open[0].Close()
		waitFor(t, "the closed connection to leave", 10*time.Second, func() bool { return b.Stats().ConnsOpen == 2 })
		stillOpen(t, rawDial(t, b.Addr(), nil), "back under the limit")
	})
	t.Run("per-ip", func(t *testing.T) {
		b := memBroker(t, func(c *broker.Config) { c.MaxConnectionsPerIP = 2 })
		one, two := net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")
		stillOpen(t, rawDial(t, b.Addr(), one), "first from 127.0.0.1")
		stillOpen(t, rawDial(t, b.Addr(), one), "second from 127.0.0.1")
		waitClosed(t, rawDial(t, b.Addr(), one), 5*time.Second)
		stillOpen(t, rawDial(t, b.Addr(), two), "first from 127.0.0.2")
		if got := b.Stats().ConnCloses.MaxConnectionsPerIP; got != 1 {
			t.Fatalf("per-ip refusals counted %d, want 1", got)
		}
	})
}

// TestFetchMaxBytesCapsAnswers: a fetch asking for 1 GiB gets at most the
// broker's --fetch-max-bytes, and still a whole batch when the first batch
// is larger than the cap (KIP-74).
func TestFetchMaxBytesCapsAnswers(t *testing.T) {
	const capBytes = 4 << 20
	b := memBroker(t, func(c *broker.Config) { c.FetchMaxBytes = capBytes })
	createTopic(t, b.Addr(), "big", 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := bytes.Repeat([]byte("0123456789abcdef"), 1<<10) // 16 KiB
	var produced int
	for p := range int32(4) {
		for range 6 << 20 / len(value) { // 6 MiB a partition, 24 MiB in all
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
			produced += len(value)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	c := rawDial(t, b.Addr(), nil)
	fetch := func(partitionMax int32) (int, int) {
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.MaxBytes = 1 << 30
		req.SessionEpoch = -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = "big"
		for p := range int32(4) {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition = p
			fp.PartitionMaxBytes = partitionMax
			ft.Partitions = append(ft.Partitions, fp)
		}
		req.Topics = append(req.Topics, ft)
		resp, err := rawRoundTrip(c, req, 3)
		if err != nil {
			t.Fatal(err)
		}
		total, batches := 0, 0
		for _, rt := range resp.(*kmsg.FetchResponse).Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
				}
				total += len(rp.RecordBatches)
				if bs, err := codec.SplitBatches(rp.RecordBatches); err == nil {
					batches += len(bs)
				}
			}
		}
		return total, batches
	}
	total, batches := fetch(1 << 30)
	t.Logf("fetch of max_bytes 1 GiB over %d MiB: %d bytes in %d batches (cap %d)", produced>>20, total, batches, capBytes)
	if total == 0 || total > capBytes {
		t.Fatalf("fetch answer holds %d record bytes, cap %d", total, capBytes)
	}
}

// TestFetchMaxBytesFirstBatchWhole: a first batch larger than the cap
// still goes out, whole.
func TestFetchMaxBytesFirstBatchWhole(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) { c.FetchMaxBytes = 64 << 10 })
	createTopic(t, b.Addr(), "wide", 1, nil)
	cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("wide"), kgo.ConsumeTopics("wide"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	value := bytes.Repeat([]byte{7}, 200<<10)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	recs := fs.Records()
	if len(recs) != 1 || !bytes.Equal(recs[0].Value, value) {
		t.Fatalf("got %d records", len(recs))
	}
}

// TestAcksZeroFailureClosesConnection: an acks=0 producer gets no answer,
// so a failed produce closes its connection (as Kafka does); a good one
// leaves it open.
func TestAcksZeroFailureClosesConnection(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	createTopic(t, b.Addr(), "zero", 1, nil)
	produce0 := func(c net.Conn, topic string, records []byte) {
		req := kmsg.NewPtrProduceRequest()
		req.Version = 9
		req.Acks = 0
		req.TimeoutMillis = 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 9)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	good := rawBatch(t, 3, time.Now().UnixMilli())

	t.Run("good", func(t *testing.T) {
		c := rawDial(t, b.Addr(), nil)
		produce0(c, "zero", good)
		stillOpen(t, c, "after a good acks=0 produce")
	})
	t.Run("unknown topic", func(t *testing.T) {
		c := rawDial(t, b.Addr(), nil)
		produce0(c, "no-such-topic", good)
		waitClosed(t, c, 10*time.Second)
	})
	t.Run("bad crc", func(t *testing.T) {
		c := rawDial(t, b.Addr(), nil)
		bad := bytes.Clone(good)
		bad[len(bad)-1] ^= 0xff
		produce0(c, "zero", bad)
		waitClosed(t, c, 10*time.Second)
	})
}

// TestRequestBudgetDoesNotLeak: the frames of produces stay charged until
// their batches commit, then all of it is released. A budget as small as
// one request then forces every produce through the wait-and-release path;
// a leak would deadlock it.
func TestRequestBudgetDoesNotLeak(t *testing.T) {
	b := memBroker(t, func(c *broker.Config) {
		c.MaxRequestBytes = 1 << 20
		c.QueuedMaxRequestBytes = 1 << 20
	})
	maxMessage := "65536"
	createTopic(t, b.Addr(), "many", 4, map[string]*string{"max.message.bytes": &maxMessage})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var failed sync.Map
	var mu sync.Mutex
	var acked, tooLarge int
	const workers, perWorker = 4, 1000
	for range workers {
		cl := newClient(t, b.Addr(), kgo.DefaultProduceTopic("many"), kgo.ProducerBatchMaxBytes(60<<10),
			kgo.ProducerLinger(time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
		big := newClient(t, b.Addr(), kgo.DefaultProduceTopic("many"), kgo.ProducerBatchMaxBytes(256<<10),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				size := 4 << 10
				if i%100 == 99 {
					size = 100 << 10 // over max.message.bytes: MESSAGE_TOO_LARGE
				}
				to := cl
				if size > 64<<10 {
					to = big
				}
				value := make([]byte, size)
				_, _ = rand.Read(value)
				to.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						acked++
					case size > 64<<10:
						tooLarge++
					default:
						failed.Store(err.Error(), true)
					}
				})
			}
			for _, c := range []*kgo.Client{cl, big} {
				if err := c.Flush(ctx); err != nil {
					failed.Store(err.Error(), true)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	failed.Range(func(k, _ any) bool { t.Errorf("produce failed: %v", k); return true })
	t.Logf("%d records acknowledged, %d refused as too large", acked, tooLarge)
	if want := workers * perWorker * 99 / 100; acked != want || tooLarge != workers*perWorker-want {
		t.Fatalf("%d acknowledged and %d refused, want %d and %d", acked, tooLarge, want, workers*perWorker-want)
	}
	waitFor(t, "the request budget to drain", 10*time.Second, func() bool { return b.Stats().RequestBytesInUse == 0 })
}

// TestLimitMetrics: with metrics on, the limits' counters are exported.
func TestLimitMetrics(t *testing.T) {
	b := startBroker(t, func(c *broker.Config) {
		c.Metrics = "prometheus"
		c.AdminAddr = "127.0.0.1:0"
		c.MaxConnectionsPerIP = 1
	})
	stillOpen(t, rawDial(t, b.Addr(), nil), "the first connection")
	waitClosed(t, rawDial(t, b.Addr(), nil), 5*time.Second)
	resp, err := http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sluice_kafka_connections_closed_total{limit="max.connections.per.ip"`,
		`sluice_kafka_connections_closed_total{limit="connections.max.idle.ms"`,
		`sluice_kafka_request_bytes_in_use{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, "max.connections.per.ip") && !strings.HasSuffix(l, " 1") {
			t.Errorf("per-ip refusals: %s, want 1", l)
		}
	}
}

// TestLimitConfig: the limits' flags are validated.
func TestLimitConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*broker.Config)
		ok     bool
	}{
		{"defaults", func(*broker.Config) {}, true},
		{"unbounded budget", func(c *broker.Config) { c.QueuedMaxRequestBytes = -1 }, true},
		{"budget below one request", func(c *broker.Config) { c.QueuedMaxRequestBytes = int64(c.MaxRequestBytes) - 1 }, false},
		{"zero idle", func(c *broker.Config) { c.ConnectionsMaxIdle = 0 }, false},
		{"no idle limit", func(c *broker.Config) { c.ConnectionsMaxIdle = -1; c.RequestReadTimeout = -1 }, true},
		{"negative max connections", func(c *broker.Config) { c.MaxConnections = -1 }, false},
		{"tiny fetch cap", func(c *broker.Config) { c.FetchMaxBytes = 10 }, false},
	} {
		cfg := broker.NewConfig()
		cfg.DataDir = t.TempDir()
		tc.mutate(&cfg)
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}
