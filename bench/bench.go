package bench

import (
	"context"
	"errors"
	"fmt"
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
	// Partitions is the topic's actual partition count.
	Partitions int32 `json:"partitions"`
	// Idempotent reports whether every producer got a producer ID, that is
	// whether the writes really were idempotent.
	Idempotent bool `json:"idempotent"`
	// Elapsed is the measured window.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Records and Bytes (record values and keys, not wire bytes) that
	// were acknowledged inside the window.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// RecordsPerSec is Records / Elapsed; MBPerSec is Bytes / Elapsed in
	// decimal megabytes (1e6 bytes).
	RecordsPerSec float64 `json:"records_per_sec"`
	MBPerSec      float64 `json:"mb_per_sec"`
	// Latency is Produce call to acknowledgement of the counted records.
	Latency Latency `json:"latency"`
	// Errors is the number of records that failed, over the whole run.
	Errors int64 `json:"errors"`
	// ErrorSamples holds the first few distinct error messages.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Notes records anything that makes the result not what was asked
	// for (a fallback taken, a feature the broker lacks).
	Notes []string `json:"notes,omitempty"`
}

// Run benchmarks the broker at bootstrap with w: it creates the topic,
// produces for w.Warmup then w.Duration, drains, and reports. It fails
// only if the run could not be set up; produce failures are counted in
// Result.Errors.
func Run(ctx context.Context, bootstrap string, w Workload) (Result, error) {
	w, err := w.normalized()
	if err != nil {
		return Result{}, err
	}
	res := Result{Bootstrap: bootstrap, Workload: w}

	parts, notes, err := CreateTopic(ctx, bootstrap, w.Topic, w.Partitions)
	res.Notes = append(res.Notes, notes...)
	if err != nil {
		return res, err
	}
	res.Partitions = parts

	opts, err := w.ProducerOpts()
	if err != nil {
		return res, err
	}
	opts = append(opts, kgo.SeedBrokers(bootstrap))
	producers := make([]*producer, w.Producers)
	for i := range producers {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			for _, p := range producers[:i] {
				p.cl.Close()
			}
			return res, fmt.Errorf("producer client: %w", err)
		}
		producers[i] = &producer{cl: cl, payload: w.payload(), seq: uint64(i) << 40}
	}

	// Start from a clean heap so the garbage of whatever ran before
	// (such as a previous in-process target) is not charged to this run.
	runtime.GC()
	start := time.Now()
	t0 := start.Add(w.Warmup)
	t1 := t0.Add(w.Duration)
	var wg sync.WaitGroup
	for _, p := range producers {
		p.t0, p.t1 = t0, t1
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()

	res.Elapsed = w.Duration
	res.Idempotent = w.Idempotent
	var hist Histogram
	for _, p := range producers {
		dctx, cancel := context.WithTimeout(ctx, w.DrainTimeout)
		if err := p.cl.Flush(dctx); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("drain: %v (records still buffered are failed and counted as errors)", err))
		}
		cancel()
		if w.Idempotent {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			id, _, err := p.cl.ProducerID(pctx)
			cancel()
			if err != nil || id < 0 {
				res.Idempotent = false
			}
		}
		p.cl.Close() // fails whatever is still buffered

		p.mu.Lock()
		res.Records += p.records
		res.Bytes += p.bytes
		hist.Merge(&p.hist)
		for _, s := range p.samples {
			if len(res.ErrorSamples) < maxErrorSamples && !contains(res.ErrorSamples, s) {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
		p.mu.Unlock()
		res.Errors += p.errors.Load()
	}
	if w.Idempotent && !res.Idempotent {
		res.Notes = append(res.Notes, "broker granted no producer ID (no InitProducerID support?): kgo produced without idempotence")
	}
	res.Latency = hist.Summary()
	if secs := res.Elapsed.Seconds(); secs > 0 {
		res.RecordsPerSec = float64(res.Records) / secs
		res.MBPerSec = float64(res.Bytes) / 1e6 / secs
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

const maxErrorSamples = 5

// topicWait bounds waiting for a created topic to become usable.
const topicWait = 30 * time.Second

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// producer is one kgo client's share of a run.
type producer struct {
	cl      *kgo.Client
	payload PayloadFunc
	seq     uint64
	t0, t1  time.Time // measured window

	errors atomic.Int64

	mu      sync.Mutex
	records int64
	bytes   int64
	hist    Histogram
	samples []string
}

// run produces as fast as the client's buffer allows until the window
// ends or ctx is done.
func (p *producer) run(ctx context.Context) {
	for ctx.Err() == nil {
		if !time.Now().Before(p.t1) {
			return
		}
		r := &kgo.Record{Value: p.payload(p.seq)}
		p.seq++
		sent := time.Now()
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
	if now.Before(p.t0) || !now.Before(p.t1) {
		return
	}
	p.mu.Lock()
	p.records++
	p.bytes += int64(len(r.Value) + len(r.Key))
	p.hist.Record(now.Sub(sent))
	p.mu.Unlock()
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
