package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Result is what one Run measured. Only records acknowledged inside the
// measured window count towards Records, Bytes, the rates and Latency.
type Result struct {
	// Target names what was benchmarked; Run leaves it empty for the
	// caller to fill in.
	Target    string   `json:"target"`
	Bootstrap string   `json:"bootstrap"`
	Workload  Workload `json:"workload"`
	// Partitions is each topic's actual partition count.
	Partitions int32 `json:"partitions"`
	// Idempotent reports whether every producer got a producer ID, that is
	// whether the writes really were idempotent.
	Idempotent bool `json:"idempotent"`
	// Elapsed is the measured window (for a catch-up read, the time the
	// consumers took to read the backlog).
	Elapsed time.Duration `json:"elapsed_ns"`
	// Records and Bytes (record values and keys, not wire bytes) that
	// were acknowledged inside the window (for a catch-up read, the whole
	// backlog).
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// RecordsPerSec is Records / Elapsed; MBPerSec is Bytes / Elapsed in
	// decimal megabytes (1e6 bytes). For a catch-up read they are the
	// backlog's produce rate, over ProduceElapsed.
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	// ProduceElapsed is the time the figures above divide by.
	ProduceElapsed time.Duration `json:"produce_elapsed_ns"`
	// Latency is Produce call to acknowledgement of the counted records.
	Latency Latency `json:"latency"`
	// LatencyHistogram is the same distribution, for charts.
	LatencyHistogram []Bucket `json:"latency_histogram,omitempty"`

	// ConsumedRecords and ConsumedBytes were read by the consumers inside
	// the window; ConsumeMBPerSec and ConsumeRecordsPerSec divide them by
	// Elapsed.
	ConsumedRecords      int64   `json:"consumed_records"`
	ConsumedBytes        int64   `json:"consumed_bytes"`
	ConsumeRecordsPerSec float64 `json:"consume_records_per_sec"`
	ConsumeMBPerSec      float64 `json:"consume_mb_per_sec"`
	// EndToEnd is produce call to consumer receipt, from the timestamp
	// the producer puts in each record (steady workloads with consumers).
	EndToEnd          Latency  `json:"end_to_end"`
	EndToEndHistogram []Bucket `json:"end_to_end_histogram,omitempty"`

	// Timeline has one sample per second of the run, warm-up included.
	Timeline []Sample `json:"timeline,omitempty"`
	// Resources is the broker process's CPU and memory over the window,
	// when known (in-process targets, or a pid given).
	Resources *Resources `json:"resources,omitempty"`
	// Cost is the broker's store operations over the window, when known.
	Cost *Cost `json:"cost,omitempty"`
	// Breakdown is the per-stage latency breakdown, when asked for.
	Breakdown *Breakdown `json:"breakdown,omitempty"`

	// Errors is the number of records that failed, over the whole run.
	Errors int64 `json:"errors"`
	// ErrorSamples holds the first few distinct error messages.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Notes records anything that makes the result not what was asked
	// for (a fallback taken, a feature the broker lacks).
	Notes []string `json:"notes,omitempty"`
}

// Sample is one second of a run.
type Sample struct {
	// T is the end of the second, in seconds from the start of the
	// measured window (negative during warm-up).
	T             float64       `json:"t"`
	ProduceMBps   float64       `json:"produce_mbps"`
	ProduceRecps  float64       `json:"produce_recps"`
	ConsumeMBps   float64       `json:"consume_mbps"`
	AckP50        time.Duration `json:"ack_p50_ns"`
	AckP99        time.Duration `json:"ack_p99_ns"`
	EndToEndP50   time.Duration `json:"e2e_p50_ns"`
	EndToEndP99   time.Duration `json:"e2e_p99_ns"`
	Errors        int64         `json:"errors"`
	RSSBytes      int64         `json:"rss_bytes,omitempty"`
	BacklogBytes  int64         `json:"backlog_bytes,omitempty"`
	ConsumedBytes int64         `json:"consumed_bytes,omitempty"`
}

// RunOptions are Run's optional observers and sources.
type RunOptions struct {
	// Label prefixes progress lines (e.g. "sluice a-produce").
	Label string
	// Progress, if set, gets a progress line each second.
	Progress io.Writer
	// PID, if not 0, is the broker's process: its CPU and memory are
	// measured over the window. Scope describes it for the report.
	PID   int
	Scope string
	// RunPeak: the process was started for this run alone, so its peak
	// RSS since it started is the run's (Resources.RunPeakRSSBytes).
	RunPeak bool
	// Counters, if set, reads the broker's store counters at the window's
	// start and end (Result.Cost).
	Counters *CounterSource
	// Window, if set, is called with true when the measured window starts
	// and false when it ends (profiling, span collection).
	Window func(start bool)
}

// Run benchmarks the broker at bootstrap with w: it creates the topics,
// produces (and consumes) for w.Warmup then w.Duration, drains, and
// reports. It fails only if the run could not be set up; produce failures
// are counted in Result.Errors.
func Run(ctx context.Context, bootstrap string, w Workload) (Result, error) {
	return RunWith(ctx, bootstrap, w, RunOptions{})
}

// RunWith is Run with observers.
func RunWith(ctx context.Context, bootstrap string, w Workload, o RunOptions) (Result, error) {
	w, err := w.normalized()
	if err != nil {
		return Result{}, err
	}
	res := Result{Bootstrap: bootstrap, Workload: w}
	topics := w.TopicNames()
	for _, t := range topics {
		parts, notes, err := CreateTopic(ctx, bootstrap, t, w.Partitions)
		res.Notes = append(res.Notes, notes...)
		if err != nil {
			return res, err
		}
		res.Partitions = parts
	}

	r := &run{w: w, o: o, topics: topics, bootstrap: bootstrap, res: &res}
	if err := r.setup(); err != nil {
		return res, err
	}
	defer r.close()
	// Start from a clean heap so the garbage of whatever ran before
	// (such as a previous in-process target) is not charged to this run.
	runtime.GC()
	if w.CatchUpBytes > 0 {
		err = r.catchUp(ctx)
	} else {
		err = r.steady(ctx)
	}
	r.finish()
	if err != nil {
		return res, err
	}
	return res, ctx.Err()
}

const maxErrorSamples = 5

// topicWait bounds waiting for a created topic to become usable.
const topicWait = 60 * time.Second

// stampHeader is the record header carrying the produce time (Unix
// nanoseconds, big endian) for end-to-end latency.
const stampHeader = "sluice-bench-t"

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// run is one RunWith in progress.
type run struct {
	w         Workload
	o         RunOptions
	topics    []string
	bootstrap string
	res       *Result

	producers []*producer
	consumers []*consumer
	proc      *procWatch
	// primed records (and their bytes) were produced before the run.
	primed, primedBytes int64
	catchUpRead         bool

	t0, t1   time.Time // measured window
	started  time.Time
	counters Counters
	// countersOK: counters were read at the window's start.
	countersOK bool
	winMu      sync.Mutex
	winEnded   bool
}

// producer is one kgo client's share of a run.
type producer struct {
	cl      *kgo.Client
	payload PayloadFunc
	seq     uint64
	topics  []string
	stamp   bool
	pacer   *Pacer
	limit   int64 // records to produce (catch-up), 0: until t1
	closed  bool
	t0, t1  time.Time

	errors   atomic.Int64
	acked    atomic.Int64 // records acknowledged, whole run
	ackBytes atomic.Int64

	mu      sync.Mutex
	records int64
	bytes   int64
	hist    Histogram
	ival    Histogram // since the last progress sample
	samples []string
}

// consumer is one kgo consumer client's share.
type consumer struct {
	cl     *kgo.Client
	t0, t1 time.Time

	records atomic.Int64 // whole run
	bytes   atomic.Int64

	mu       sync.Mutex
	wRecords int64 // inside the window
	wBytes   int64
	hist     Histogram
	ival     Histogram
	errs     []string
}

func (r *run) setup() error {
	w := r.w
	opts, err := w.ProducerOpts()
	if err != nil {
		return err
	}
	opts = append(opts, kgo.SeedBrokers(r.bootstrap))
	for i := range w.Producers {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return fmt.Errorf("producer client: %w", err)
		}
		p := &producer{cl: cl, payload: w.payload(), seq: uint64(i) << 40, topics: r.topics,
			stamp: w.Consumers > 0 && w.CatchUpBytes == 0}
		if w.Rate > 0 {
			p.pacer = NewPacer(w.Rate / float64(w.Producers))
		}
		if w.CatchUpBytes > 0 {
			total := (w.CatchUpBytes + int64(w.RecordBytes) - 1) / int64(w.RecordBytes)
			p.limit = total / int64(w.Producers)
			if int64(i) < total%int64(w.Producers) {
				p.limit++
			}
		}
		r.producers = append(r.producers, p)
	}
	// Consumers get the partitions round robin, direct assignment.
	nc := min(w.Consumers, len(r.topics)*int(w.Partitions))
	assign := make([]map[string]map[int32]kgo.Offset, nc)
	for i := range assign {
		assign[i] = map[string]map[int32]kgo.Offset{}
	}
	k := 0
	for _, t := range r.topics {
		for p := range w.Partitions {
			if nc == 0 {
				break
			}
			a := assign[k%nc]
			if a[t] == nil {
				a[t] = map[int32]kgo.Offset{}
			}
			a[t][p] = kgo.NewOffset().AtStart()
			k++
		}
	}
	for _, a := range assign {
		cl, err := kgo.NewClient(kgo.SeedBrokers(r.bootstrap), kgo.ConsumePartitions(a),
			kgo.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			return fmt.Errorf("consumer client: %w", err)
		}
		r.consumers = append(r.consumers, &consumer{cl: cl})
	}
	if r.o.PID != 0 {
		r.proc = newProcWatch(r.o.PID, r.o.Scope)
		r.proc.runPeak = r.o.RunPeak
	}
	return r.prime()
}

// prime has every producer produce one record, synchronously and
// uncounted, so that connections, metadata and producer IDs are set up
// before the clock starts (200 clients take a while to connect).
func (r *run) prime() error {
	ctx, cancel := context.WithTimeout(context.Background(), topicWait)
	defer cancel()
	errs := make([]error, len(r.producers))
	var wg sync.WaitGroup
	for i, p := range r.producers {
		wg.Go(func() {
			rec := &kgo.Record{Topic: r.topics[i%len(r.topics)], Value: p.payload(uint64(i))}
			errs[i] = p.cl.ProduceSync(ctx, rec).FirstErr()
		})
	}
	wg.Wait()
	r.primed = int64(len(r.producers))
	r.primedBytes = int64(len(r.producers) * r.w.RecordBytes)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("first produce: %w", err)
	}
	return nil
}

func (r *run) close() {
	for _, p := range r.producers {
		if !p.closed {
			p.cl.Close()
		}
	}
	for _, c := range r.consumers {
		c.cl.Close()
	}
}

func (r *run) note(n string) { r.res.Notes = append(r.res.Notes, n) }

// beginWindow and endWindow bracket the measured window's observers.
func (r *run) beginWindow() {
	r.countersOK = false
	if r.o.Counters != nil {
		c, err := r.o.Counters.Read()
		if err != nil {
			r.note(fmt.Sprintf("cost: reading %s: %v", r.o.Counters.Name, err))
		} else {
			r.counters, r.countersOK = c, true
		}
	}
	if r.proc != nil {
		if err := r.proc.begin(); err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("resources: %v", err))
			r.proc = nil
		}
	}
	if r.o.Window != nil {
		r.o.Window(true)
	}
}

func (r *run) endWindow(produced int64, secs float64) {
	r.winMu.Lock()
	defer r.winMu.Unlock()
	if r.winEnded {
		return
	}
	r.winEnded = true
	if r.o.Window != nil {
		r.o.Window(false)
	}
	if r.countersOK {
		if c, err := r.o.Counters.Read(); err != nil {
			r.note(fmt.Sprintf("cost: reading %s: %v", r.o.Counters.Name, err))
		} else {
			r.res.Cost = newCost(r.o.Counters.Name, c.sub(r.counters), secs, produced)
		}
	}
	if r.proc != nil {
		res, err := r.proc.end()
		if err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("resources: %v", err))
		}
		r.res.Resources = res
	}
}

// steady runs producers (and consumers) for warm-up plus duration.
func (r *run) steady(ctx context.Context) error {
	w := r.w
	r.started = time.Now()
	r.t0 = r.started.Add(w.Warmup)
	r.t1 = r.t0.Add(w.Duration)
	for _, c := range r.consumers {
		c.t0, c.t1 = r.t0, r.t1
	}
	cctx, stopConsumers := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	for _, c := range r.consumers {
		cwg.Go(func() { c.run(cctx, nil) })
	}
	samplerDone := r.startSampler(ctx)

	// The window's observers run on the clock, not on the producers.
	wctx, cancelW := context.WithCancel(ctx)
	var wwg sync.WaitGroup
	wwg.Go(func() {
		if !sleepUntil(wctx, r.t0) {
			return
		}
		r.beginWindow()
		if !sleepUntil(wctx, r.t1) {
			return
		}
		r.endWindow(r.windowBytes(), w.Duration.Seconds())
	})

	var pwg sync.WaitGroup
	for _, p := range r.producers {
		p.t0, p.t1 = r.t0, r.t1
		pwg.Go(func() { p.run(ctx) })
	}
	pwg.Wait()
	wwg.Wait()
	cancelW()
	r.drain(ctx)
	stopConsumers()
	cwg.Wait()
	samplerDone()
	r.res.Elapsed = w.Duration
	r.res.ProduceElapsed = w.Duration
	return nil
}

// windowBytes is what the producers had acknowledged inside the window so
// far.
func (r *run) windowBytes() int64 {
	var n int64
	for _, p := range r.producers {
		p.mu.Lock()
		n += p.bytes
		p.mu.Unlock()
	}
	return n
}

// catchUp produces the backlog, then reads it all from the start.
func (r *run) catchUp(ctx context.Context) error {
	r.started = time.Now()
	// Every acknowledgement of the backlog counts.
	r.t0, r.t1 = r.started, r.started.Add(100*365*24*time.Hour)
	samplerDone := r.startSampler(ctx)
	defer samplerDone()

	var pwg sync.WaitGroup
	for _, p := range r.producers {
		p.t0, p.t1 = r.t0, r.t1
		pwg.Go(func() { p.run(ctx) })
	}
	pwg.Wait()
	r.drain(ctx)
	r.res.ProduceElapsed = time.Since(r.started)
	var total, totalBytes int64
	for _, p := range r.producers {
		total += p.acked.Load()
		totalBytes += p.ackBytes.Load()
	}
	// The consumers read the primed records too.
	toRead := total + r.primed
	if err := ctx.Err(); err != nil {
		return err
	}
	if total == 0 {
		return errors.New("catch-up: no record of the backlog was acknowledged")
	}

	// Read it back: the clock runs from the consumers' start to the last
	// backlog record read.
	start := time.Now()
	for _, c := range r.consumers {
		c.t0, c.t1 = start, start.Add(100*365*24*time.Hour)
	}
	r.winMu.Lock()
	r.winEnded = false
	r.winMu.Unlock()
	r.beginWindow()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var read atomic.Int64
	var doneAt atomic.Int64
	var cwg sync.WaitGroup
	for _, c := range r.consumers {
		cwg.Go(func() {
			c.run(cctx, func(n int64) {
				if read.Add(n) >= toRead && doneAt.Load() == 0 {
					doneAt.CompareAndSwap(0, time.Now().UnixNano())
					cancel()
				}
			})
		})
	}
	cwg.Wait()
	end := time.Now()
	if d := doneAt.Load(); d != 0 {
		end = time.Unix(0, d)
	}
	r.res.Elapsed = end.Sub(start)
	r.endWindow(totalBytes, r.res.Elapsed.Seconds())
	r.catchUpRead = true
	if got := read.Load(); got < toRead {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("catch-up: read %d of %d backlog records", got, toRead))
		return ctx.Err()
	}
	return nil
}

// drain waits for every producer's outstanding records.
func (r *run) drain(ctx context.Context) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, p := range r.producers {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, r.w.DrainTimeout)
			defer cancel()
			if err := p.cl.Flush(dctx); err != nil {
				mu.Lock()
				if n := fmt.Sprintf("drain: %v (records still buffered are failed and counted as errors)", err); !contains(r.res.Notes, n) {
					r.res.Notes = append(r.res.Notes, n)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// finish gathers the producers' and consumers' figures into the result.
func (r *run) finish() {
	res, w := r.res, r.w
	res.Idempotent = w.Idempotent
	var ack, e2e Histogram
	for _, p := range r.producers {
		if w.Idempotent {
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			id, _, err := p.cl.ProducerID(pctx)
			cancel()
			if err != nil || id < 0 {
				res.Idempotent = false
			}
		}
		p.cl.Close() // fails whatever is still buffered
		p.closed = true
		p.mu.Lock()
		res.Records += p.records
		res.Bytes += p.bytes
		ack.Merge(&p.hist)
		for _, s := range p.samples {
			if len(res.ErrorSamples) < maxErrorSamples && !contains(res.ErrorSamples, s) {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
		p.mu.Unlock()
		res.Errors += p.errors.Load()
	}
	for _, c := range r.consumers {
		c.mu.Lock()
		res.ConsumedRecords += c.wRecords
		res.ConsumedBytes += c.wBytes
		e2e.Merge(&c.hist)
		for _, s := range c.errs {
			if n := "consumer: " + s; !contains(res.Notes, n) {
				res.Notes = append(res.Notes, n)
			}
		}
		c.mu.Unlock()
	}
	if r.catchUpRead {
		// The backlog figures leave the primed records out.
		res.ConsumedRecords = max(res.ConsumedRecords-r.primed, 0)
		res.ConsumedBytes = max(res.ConsumedBytes-r.primedBytes, 0)
	}
	if w.Idempotent && !res.Idempotent {
		res.Notes = append(res.Notes, "broker granted no producer ID (no InitProducerID support?): kgo produced without idempotence")
	}
	res.Latency = ack.Summary()
	res.LatencyHistogram = ack.Buckets()
	res.EndToEnd = e2e.Summary()
	res.EndToEndHistogram = e2e.Buckets()
	if secs := res.ProduceElapsed.Seconds(); secs > 0 {
		res.RecordsPerSec = float64(res.Records) / secs
		res.MBPerSec = float64(res.Bytes) / 1e6 / secs
	}
	if secs := res.Elapsed.Seconds(); secs > 0 {
		res.ConsumeRecordsPerSec = float64(res.ConsumedRecords) / secs
		res.ConsumeMBPerSec = float64(res.ConsumedBytes) / 1e6 / secs
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// run produces until the window ends (or the record limit is reached),
// as fast as the client's buffer allows or at the pacer's rate.
func (p *producer) run(ctx context.Context) {
	var n int64
	for ctx.Err() == nil {
		if p.limit > 0 {
			if n >= p.limit {
				return
			}
		} else if !time.Now().Before(p.t1) {
			return
		}
		if p.pacer != nil && p.pacer.Wait(ctx) != nil {
			return
		}
		r := &kgo.Record{Value: p.payload(p.seq)}
		if len(p.topics) > 1 {
			r.Topic = p.topics[p.seq%uint64(len(p.topics))]
		}
		p.seq++
		n++
		sent := time.Now()
		if p.stamp {
			r.Headers = []kgo.RecordHeader{{Key: stampHeader, Value: binary.BigEndian.AppendUint64(nil, uint64(sent.UnixNano()))}}
		}
		p.cl.Produce(ctx, r, func(r *kgo.Record, err error) { p.done(r, err, sent) })
	}
}

// done is the promise: it counts the record if it was acknowledged inside
// the measured window.
func (p *producer) done(r *kgo.Record, err error, sent time.Time) {
	now := time.Now()
	if err != nil {
		p.errors.Add(1)
		p.mu.Lock()
		if msg := err.Error(); len(p.samples) < maxErrorSamples && !contains(p.samples, msg) {
			p.samples = append(p.samples, msg)
		}
		p.mu.Unlock()
		return
	}
	size := int64(len(r.Value) + len(r.Key))
	p.acked.Add(1)
	p.ackBytes.Add(size)
	lat := now.Sub(sent)
	p.mu.Lock()
	p.ival.Record(lat)
	if !now.Before(p.t0) && now.Before(p.t1) {
		p.records++
		p.bytes += size
		p.hist.Record(lat)
	}
	p.mu.Unlock()
}

// run polls until ctx is done; read, if set, is told how many records
// each poll returned.
func (c *consumer) run(ctx context.Context, read func(int64)) {
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		now := time.Now()
		in := !now.Before(c.t0) && now.Before(c.t1)
		var n, bytes int64
		c.mu.Lock()
		fs.EachError(func(t string, p int32, err error) {
			if s := fmt.Sprintf("%s/%d: %v", t, p, err); len(c.errs) < maxErrorSamples && !contains(c.errs, s) {
				c.errs = append(c.errs, s)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytes += int64(len(r.Value) + len(r.Key))
			for _, h := range r.Headers {
				if h.Key == stampHeader && len(h.Value) == 8 {
					lat := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(h.Value))))
					c.ival.Record(lat)
					if in {
						c.hist.Record(lat)
					}
				}
			}
		})
		if in {
			c.wRecords += n
			c.wBytes += bytes
		}
		c.mu.Unlock()
		c.records.Add(n)
		c.bytes.Add(bytes)
		if read != nil && n > 0 {
			read(n)
		}
	}
}

// CreateTopic makes sure topic exists with the given partition count and
// returns the count it has. It uses CreateTopics when the broker has it and
// otherwise auto-creation through a Metadata request (noted in notes); an
// existing topic is accepted. It fails if the topic ends up with a
// different partition count, which would make results incomparable.
func CreateTopic(ctx context.Context, bootstrap, topic string, partitions int32) (got int32, notes []string, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		return 0, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("api versions: %w", err)
	}
	canCreate := len(versions) > 0
	versions.Each(func(v kadm.BrokerApiVersions) {
		if v.Err != nil {
			canCreate = false
			return
		}
		if _, ok := v.KeyMaxVersion(kmsg.CreateTopics.Int16()); !ok {
			canCreate = false
		}
	})

	if canCreate {
		resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, nil, fmt.Errorf("create topic %q: %w", topic, err)
		}
		if err == nil && resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			return 0, nil, fmt.Errorf("create topic %q: %w", topic, resp.Err)
		}
	} else {
		notes = append(notes, "broker has no CreateTopics: topic auto-created by a Metadata request with the broker's default partition count")
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = true
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return 0, notes, fmt.Errorf("auto-create topic %q: %w", topic, err)
		}
		for _, t := range resp.Topics {
			if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.LeaderNotAvailable) {
				return 0, notes, fmt.Errorf("auto-create topic %q: %w", topic, err)
			}
		}
	}

	// Wait until the topic is visible with all its partitions led.
	ctx, cancel := context.WithTimeout(ctx, topicWait)
	defer cancel()
	for {
		details, err := adm.ListTopics(ctx, topic)
		if err == nil {
			if d, ok := details[topic]; ok && d.Err == nil {
				got = int32(len(d.Partitions))
				led := true
				for _, p := range d.Partitions {
					if p.Err != nil || p.Leader < 0 {
						led = false
					}
				}
				if led && got > 0 {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return got, notes, fmt.Errorf("waiting for topic %q: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got != partitions {
		return got, notes, fmt.Errorf("topic %q has %d partitions, want %d", topic, got, partitions)
	}
	return got, notes, nil
}

// stderrIsTerminal reports whether progress lines can be redrawn in place.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
