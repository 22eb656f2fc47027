package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults used by DefaultWorkload and for zero Workload fields.
const (
	DefaultPartitions       = 8
	DefaultRecordBytes      = 1024
	DefaultDuration         = 20 * time.Second
	DefaultWarmup           = 3 * time.Second
	DefaultLinger           = 5 * time.Millisecond
	DefaultMaxBufferedBytes = 16 << 20
	DefaultDrainTimeout     = 30 * time.Second
)

// Partitioners a Workload can name.
const (
	// RoundRobin spreads records evenly over every partition regardless of
	// timing: each target receives the same per-partition load and the
	// same shape of produce requests (all partitions in each), which is
	// what makes a cross-target comparison fair. It is the default.
	RoundRobin = "round-robin"
	// Sticky is kgo's default (sticky until a batch rolls over); its batch
	// sizes adapt to how fast the broker acknowledges, so a slower target
	// also gets fewer, larger batches.
	Sticky = "sticky"
)

// PayloadFunc returns the value of the seq'th record of a producer. The
// returned slice is handed to the client and must not be modified
// afterwards (returning slices of one shared, read-only buffer is fine).
type PayloadFunc func(seq uint64) []byte

// Payload kinds a Workload can name.
const (
	// PayloadRandom is incompressible bytes.
	PayloadRandom = "random"
	// PayloadText is words and numbers over a small vocabulary.
	PayloadText = "text"
	// PayloadJSON is JSON event documents (ids, timestamps, URLs, user
	// agents, prices) that compress about as well as real JSON events:
	// a few times over with zstd.
	PayloadJSON = "json"
)

// Workload describes a benchmark run in the spirit of the OpenMessaging
// Benchmark: topics, partitions, producers and consumers, record size and
// payload, codec, acks, linger, batch size, a target rate or none, warm-up
// and duration. The zero value of most fields means "default";
// DefaultWorkload returns a fully spelled out one.
type Workload struct {
	// Name labels the workload in reports (optional).
	Name string `json:"name,omitempty"`
	// Topic to produce to; empty picks a fresh name per run. With
	// Topics > 1 the topics are Topic-0, Topic-1, ...
	Topic string `json:"topic"`
	// Topics is the number of topics (default 1); every producer spreads
	// its records over all of them.
	Topics int `json:"topics,omitempty"`
	// Partitions each topic must have (default 8).
	Partitions int32 `json:"partitions"`
	// Consumers is the number of consumer clients (default 0). Each reads
	// a fixed share of the partitions (direct assignment, no group) from
	// the start; their records give consume throughput and end-to-end
	// latency (from a produce timestamp the producer puts in a record
	// header).
	Consumers int `json:"consumers,omitempty"`
	// Rate is the target produce rate in records per second over all
	// producers; 0 produces as fast as the brokers acknowledge.
	Rate float64 `json:"rate,omitempty"`
	// BatchBytes is kgo.ProducerBatchMaxBytes (0: kgo's default).
	BatchBytes int32 `json:"batch_bytes,omitempty"`
	// PayloadKind is PayloadRandom, PayloadText or PayloadJSON; empty
	// means random without compression and text with it.
	PayloadKind string `json:"payload_kind,omitempty"`
	// CatchUpBytes, when set, makes this a catch-up read: the producers
	// first write this many record bytes as fast as they can, then the
	// consumers (at least one) read the whole backlog from the start and
	// the consume rate is the measured figure. Warmup and Duration are
	// not used; the backlog is read to its end.
	CatchUpBytes int64 `json:"catch_up_bytes,omitempty"`
	// RecordBytes is the value size (default 1024). Records have no key.
	RecordBytes int `json:"record_bytes"`
	// Duration is the measured window (default 20s).
	Duration time.Duration `json:"duration_ns"`
	// Warmup precedes the window; nothing is measured in it (0: none).
	Warmup time.Duration `json:"warmup_ns"`
	// Linger is kgo.ProducerLinger (0: no linger).
	Linger time.Duration `json:"linger_ns"`
	// Acks is "all" (default, also "-1"), "1" or "0".
	Acks string `json:"acks"`
	// Idempotent keeps kgo's default idempotent producer; false disables
	// it. A broker without InitProducerID makes kgo fall back to
	// non-idempotent writes; Result.Idempotent says what happened.
	Idempotent bool `json:"idempotent"`
	// Compression is "" or "none" (default), "gzip", "snappy", "lz4" or
	// "zstd".
	Compression string `json:"compression"`
	// Partitioner is RoundRobin (default) or Sticky.
	Partitioner string `json:"partitioner"`
	// Producers is the number of independent kgo clients (default 1).
	Producers int `json:"producers"`
	// MaxBufferedBytes bounds each client's unacknowledged bytes
	// (kgo.MaxBufferedBytes; default 16 MiB). It must cover throughput
	// times ack latency to keep the broker busy; everything above that
	// only adds queueing latency.
	MaxBufferedBytes int `json:"max_buffered_bytes"`
	// DrainTimeout bounds waiting for the last acknowledgements after the
	// window (default 30s); records still unacknowledged then are errors.
	DrainTimeout time.Duration `json:"drain_timeout_ns"`
	// Seed makes the default payload deterministic.
	Seed uint64 `json:"seed"`
	// Payload overrides the record values. By default they are random
	// bytes (deterministic from Seed), which do not compress, unless a
	// Compression codec is set, in which case they are text-like and
	// compress a few times over.
	Payload PayloadFunc `json:"-"`
}

// DefaultWorkload is the harness's standard workload: 8 partitions, 1 KiB
// incompressible records, acks=all, idempotent, 5ms linger, round robin,
// one producer, 20s measured after 3s of warm-up.
func DefaultWorkload() Workload {
	return Workload{
		Partitions:       DefaultPartitions,
		RecordBytes:      DefaultRecordBytes,
		Duration:         DefaultDuration,
		Warmup:           DefaultWarmup,
		Linger:           DefaultLinger,
		Acks:             "all",
		Idempotent:       true,
		Compression:      "none",
		Partitioner:      RoundRobin,
		Producers:        1,
		MaxBufferedBytes: DefaultMaxBufferedBytes,
		DrainTimeout:     DefaultDrainTimeout,
	}
}

// normalized fills defaults and validates.
func (w Workload) normalized() (Workload, error) {
	if w.Topic == "" {
		w.Topic = fmt.Sprintf("sluice-bench-%d", time.Now().UnixNano())
	}
	if w.Partitions == 0 {
		w.Partitions = DefaultPartitions
	}
	if w.Topics == 0 {
		w.Topics = 1
	}
	if w.CatchUpBytes > 0 && w.Consumers == 0 {
		w.Consumers = 1
	}
	if w.PayloadKind == "" {
		w.PayloadKind = PayloadRandom
		if w.compressed() {
			w.PayloadKind = PayloadText
		}
	}
	if w.RecordBytes == 0 {
		w.RecordBytes = DefaultRecordBytes
	}
	if w.Duration == 0 {
		w.Duration = DefaultDuration
	}
	if w.Acks == "" {
		w.Acks = "all"
	}
	if w.Compression == "" {
		w.Compression = "none"
	}
	if w.Partitioner == "" {
		w.Partitioner = RoundRobin
	}
	if w.Producers == 0 {
		w.Producers = 1
	}
	if w.MaxBufferedBytes == 0 {
		w.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if w.DrainTimeout == 0 {
		w.DrainTimeout = DefaultDrainTimeout
	}
	switch {
	case w.Partitions < 1:
		return w, fmt.Errorf("partitions %d: must be at least 1", w.Partitions)
	case w.RecordBytes < 1:
		return w, fmt.Errorf("record bytes %d: must be at least 1", w.RecordBytes)
	case w.Duration < 0 || w.Warmup < 0 || w.Linger < 0 || w.DrainTimeout < 0:
		return w, fmt.Errorf("durations must not be negative")
	case w.Producers < 1:
		return w, fmt.Errorf("producers %d: must be at least 1", w.Producers)
	case w.Topics < 1:
		return w, fmt.Errorf("topics %d: must be at least 1", w.Topics)
	case w.Consumers < 0:
		return w, fmt.Errorf("consumers %d: must not be negative", w.Consumers)
	case w.Rate < 0 || math.IsNaN(w.Rate) || math.IsInf(w.Rate, 0):
		return w, fmt.Errorf("rate %v: must be a non-negative number (0: unthrottled)", w.Rate)
	case w.BatchBytes < 0:
		return w, fmt.Errorf("batch bytes %d: must not be negative", w.BatchBytes)
	case w.CatchUpBytes < 0:
		return w, fmt.Errorf("catch-up bytes %d: must not be negative", w.CatchUpBytes)
	case w.CatchUpBytes > 0 && w.Rate > 0:
		return w, fmt.Errorf("a catch-up workload produces its backlog unthrottled: rate must be 0")
	case w.PayloadKind != PayloadRandom && w.PayloadKind != PayloadText && w.PayloadKind != PayloadJSON:
		return w, fmt.Errorf("payload %q: want %s, %s or %s", w.PayloadKind, PayloadRandom, PayloadText, PayloadJSON)
	case w.MaxBufferedBytes < w.RecordBytes:
		return w, fmt.Errorf("max buffered bytes %d: must hold at least one record", w.MaxBufferedBytes)
	}
	if _, err := w.acks(); err != nil {
		return w, err
	}
	if w.Idempotent && w.Acks != "all" && w.Acks != "-1" {
		return w, fmt.Errorf("acks %q: an idempotent producer needs acks=all", w.Acks)
	}
	if _, err := w.codec(); err != nil {
		return w, err
	}
	if w.Partitioner != RoundRobin && w.Partitioner != Sticky {
		return w, fmt.Errorf("partitioner %q: want %q or %q", w.Partitioner, RoundRobin, Sticky)
	}
	return w, nil
}

func (w Workload) acks() (kgo.Acks, error) {
	switch w.Acks {
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want all, 1 or 0", w.Acks)
}

func (w Workload) codec() (kgo.CompressionCodec, error) {
	switch strings.ToLower(w.Compression) {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", w.Compression)
}

func (w Workload) compressed() bool { return strings.ToLower(w.Compression) != "none" }

// ProducerOpts are the kgo options the workload's producers use (without
// seed brokers), for callers that build their own clients.
func (w Workload) ProducerOpts() ([]kgo.Opt, error) {
	w, err := w.normalized()
	if err != nil {
		return nil, err
	}
	acks, _ := w.acks()
	codec, _ := w.codec()
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(w.Topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(w.Linger),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedBytes(w.MaxBufferedBytes),
		// Bytes are the binding limit; the record limit only has to
		// stay out of the way.
		kgo.MaxBufferedRecords(w.MaxBufferedBytes/w.RecordBytes + 1),
	}
	if !w.Idempotent {
		// Same in-flight depth as the idempotent producer gets.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	if w.Partitioner == RoundRobin {
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	}
	if w.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(w.BatchBytes))
	}
	return opts, nil
}

// payloadPoolBytes is the size of the shared buffer default payloads are
// sliced from: large enough that consecutive records differ and batches do
// not repeat.
const payloadPoolBytes = 4 << 20

// RandomPayload returns deterministic, incompressible record values of
// size bytes: windows into a pseudo-random buffer seeded with seed.
func RandomPayload(size int, seed uint64) PayloadFunc {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	pool := make([]byte, payloadPoolBytes+size)
	for i := 0; i < len(pool); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(pool); j++ {
			pool[i+j] = byte(v >> (8 * j))
		}
	}
	return windows(pool, size)
}

// TextPayload returns deterministic record values of size bytes that look
// like text over a small vocabulary: they compress a few times over, as
// typical JSON or log lines do.
func TextPayload(size int, seed uint64) PayloadFunc {
	words := []string{
		"user", "id", "event", "click", "view", "order", "price", "true",
		"false", "null", "session", "timestamp", "sluice", "kafka", "topic",
		"partition", "offset", "value", "key", "status", "ok", "error",
	}
	r := rand.New(rand.NewPCG(seed, 0x7e47))
	pool := make([]byte, 0, payloadPoolBytes+size+16)
	for len(pool) < payloadPoolBytes+size {
		pool = append(pool, words[r.IntN(len(words))]...)
		pool = append(pool, '"', ':')
		pool = fmt.Appendf(pool, "%d", r.IntN(100000))
		pool = append(pool, ',', ' ')
	}
	return windows(pool[:payloadPoolBytes+size], size)
}

// windows returns a PayloadFunc slicing size bytes out of pool at an
// offset that moves by a prime stride, so neighbouring records differ.
func windows(pool []byte, size int) PayloadFunc {
	span := uint64(len(pool) - size + 1)
	const stride = 4099 // prime, so the offsets cycle through all of span
	return func(seq uint64) []byte {
		off := (seq * stride) % span
		return pool[off : off+uint64(size) : off+uint64(size)]
	}
}

func (w Workload) payload() PayloadFunc {
	if w.Payload != nil {
		return w.Payload
	}
	switch w.PayloadKind {
	case PayloadText:
		return TextPayload(w.RecordBytes, w.Seed)
	case PayloadJSON:
		return JSONPayload(w.RecordBytes, w.Seed)
	}
	return RandomPayload(w.RecordBytes, w.Seed)
}

// TopicNames are the workload's topics.
func (w Workload) TopicNames() []string {
	if w.Topics <= 1 {
		return []string{w.Topic}
	}
	names := make([]string, w.Topics)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", w.Topic, i)
	}
	return names
}

// JSONPayload returns deterministic record values of size bytes cut from a
// stream of JSON event documents like those real services emit: random ids
// and numbers (which do not compress) inside a fixed structure of keys and
// repeated enum-like values (which do). zstd shrinks them about three to
// five times, as it does real JSON events.
func JSONPayload(size int, seed uint64) PayloadFunc {
	r := rand.New(rand.NewPCG(seed, 0x150e))
	events := []string{"page_view", "click", "add_to_cart", "purchase", "search", "login", "logout", "video_play"}
	countries := []string{"DE", "US", "FR", "GB", "JP", "BR", "IN", "NL", "ES", "IT"}
	paths := []string{"/", "/products", "/products/%d", "/cart", "/checkout", "/search?q=item%d", "/account", "/help/article/%d"}
	agents := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
	}
	hex := func(n int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = digits[r.IntN(16)]
		}
		return string(b)
	}
	ts := int64(1_720_000_000_000)
	pool := make([]byte, 0, payloadPoolBytes+size+1024)
	for len(pool) < payloadPoolBytes+size {
		ts += int64(r.IntN(50))
		path := paths[r.IntN(len(paths))]
		if strings.Contains(path, "%d") {
			path = fmt.Sprintf(path, r.IntN(5000))
		}
		pool = fmt.Appendf(pool, `{"event_id":"%s-%s-%s-%s-%s","type":%q,"ts":%d,"user":{"id":%d,"country":%q,"premium":%t},`,
			hex(8), hex(4), hex(4), hex(4), hex(12), events[r.IntN(len(events))], ts,
			r.IntN(10_000_000), countries[r.IntN(len(countries))], r.IntN(4) == 0)
		pool = fmt.Appendf(pool, `"session":"%s","page":{"path":%q,"referrer":%q},"user_agent":%q,`,
			hex(16), path, paths[r.IntN(len(paths))], agents[r.IntN(len(agents))])
		pool = fmt.Appendf(pool, `"cart":{"items":%d,"total":%d.%02d,"currency":"EUR"},"latency_ms":%d,"ok":%t}`+"\n",
			r.IntN(8), r.IntN(500), r.IntN(100), r.IntN(900), r.IntN(20) != 0)
	}
	return windows(pool[:payloadPoolBytes+size], size)
}
