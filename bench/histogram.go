package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 1<<subBits sub-buckets per power
// of two, so a recorded value is known to within 1/(1<<subBits) (0.8%).
const subBits = 7

const (
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount
)

// Histogram is a log-linear histogram of durations in nanoseconds, in the
// style of HdrHistogram: values below 128ns are exact, larger ones fall in
// buckets 1/128th of their power of two wide. Min, max, count and sum are
// exact. The zero value is ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts [numBuckets]uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return (shift+1)<<subBits + int(uint64(v)>>shift) - subCount
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i>>subBits - 1
	m := int64(i&(subCount-1) + subCount)
	return (m+1)<<shift - 1
}

// Record adds one duration (negative ones count as 0).
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded value, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean is the exact mean.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.n)))
}

// Quantile returns the value at quantile q (0..1): the upper bound of the
// bucket holding the ceil(q*n)'th smallest value, clamped to [Min, Max].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketHigh(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Summary condenses the histogram.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.n,
		Min:   h.Min(),
		Mean:  h.Mean(),
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		P999:  h.Quantile(0.999),
		Max:   h.Max(),
	}
}

// Latency summarises a latency distribution.
type Latency struct {
	Count uint64        `json:"count"`
	Min   time.Duration `json:"min_ns"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Bucket is one bar of a coarsened histogram: Count values at most Le
// (and above the previous bucket's Le).
type Bucket struct {
	Le    time.Duration `json:"le_ns"`
	Count uint64        `json:"count"`
}

// bucketGroup is how many fine buckets one exported Bucket spans: 16, so
// 8 buckets per power of two (about 9% wide).
const bucketGroup = 16

// Buckets returns the non-empty buckets of the histogram coarsened to 8
// per power of two, in increasing order (for charts; the quantiles come
// from the fine histogram).
func (h *Histogram) Buckets() []Bucket {
	if h.n == 0 {
		return nil
	}
	var out []Bucket
	for g := 0; g < numBuckets; g += bucketGroup {
		var c uint64
		for _, v := range h.counts[g : g+bucketGroup] {
			c += v
		}
		if c > 0 {
			out = append(out, Bucket{Le: time.Duration(min(bucketHigh(g+bucketGroup-1), h.max)), Count: c})
		}
	}
	return out
}
