package bench

import (
	"fmt"
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

// Workload describes a produce benchmark. The zero value of most fields
// means "default"; DefaultWorkload returns a fully spelled out one.
type Workload struct {
	// Topic to produce to; empty picks a fresh name per run.
	Topic string `json:"topic"`
	// Partitions the topic must have (default 8).
	Partitions int32 `json:"partitions"`
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
	if w.compressed() {
		return TextPayload(w.RecordBytes, w.Seed)
	}
	return RandomPayload(w.RecordBytes, w.Seed)
}
