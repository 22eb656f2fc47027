package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
)

func mem() objstore.Store { return blobstore.New(memblob.OpenBucket(nil)) }

// policy retries quickly, for tests.
func policy(attempts int) objstore.RetryPolicy {
	return objstore.RetryPolicy{Attempts: attempts, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, Timeout: time.Second}
}

func TestRetryConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.WithRetry(objstore.LimitPuts(mem(), 4), policy(3))
	})
}

// A store that fails now and then still passes the suite behind retries.
func TestRetryConformanceFlaky(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		f := faulty.New(mem(), faulty.Config{
			Put: faulty.Rule{Prob: 0.2}, Get: faulty.Rule{Prob: 0.2},
			Delete: faulty.Rule{Prob: 0.2}, List: faulty.Rule{Prob: 0.2, After: true},
			Seed: 7,
		})
		return objstore.WithRetry(f, policy(10))
	})
}

func TestRetryTransientUpToBound(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem(), faulty.Config{Put: faulty.Rule{Count: 2}, Get: faulty.Rule{Count: 2}})
	s := objstore.WithRetry(f, policy(3))
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with 2 failures and 3 attempts: %v", err)
	}
	if b, err := s.GetRange(ctx, "k", 0, -1); err != nil || string(b) != "v" {
		t.Fatalf("Get with 2 failures and 3 attempts: %q %v", b, err)
	}
	if st := f.Stats(); st.Puts != 3 || st.Gets != 3 {
		t.Fatalf("calls = %+v, want 3 Puts and 3 Gets", st)
	}

	// One failure more than the bound allows: the injected error comes
	// back after exactly Attempts calls.
	f.Set(faulty.Config{Put: faulty.Rule{Count: 3}})
	before := f.Stats().Puts
	err := s.Put(ctx, "k2", []byte("v"))
	if !errors.Is(err, faulty.ErrInjected) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Put with 3 failures and 3 attempts: %v", err)
	}
	if n := f.Stats().Puts - before; n != 3 {
		t.Fatalf("Puts = %d, want 3", n)
	}
	if _, err := f.GetRange(ctx, "k2", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a failed Put stored its object: %v", err)
	}

	// Attempts 1 (or 0) is no retry.
	f.Set(faulty.Config{Put: faulty.Rule{Count: 1}})
	before = f.Stats().Puts
	if err := objstore.WithRetry(f, objstore.RetryPolicy{}).Put(ctx, "k3", nil); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("no-retry policy: %v", err)
	}
	if n := f.Stats().Puts - before; n != 1 {
		t.Fatalf("Puts = %d, want 1", n)
	}
}

func TestRetryPermanentNotRetried(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem(), faulty.Config{})
	s := objstore.WithRetry(f, policy(5))
	// ErrNotFound from the store itself.
	if _, err := s.GetRange(ctx, "missing", 0, -1); err != objstore.ErrNotFound {
		t.Fatalf("missing key: %v, want ErrNotFound itself", err)
	}
	if st := f.Stats(); st.Gets != 1 {
		t.Fatalf("a missing key was read %d times", st.Gets)
	}
	// Injected permanent errors.
	perm := objstore.Permanent(errors.New("access denied"))
	f.Set(faulty.Config{Put: faulty.Rule{Count: 5, Err: perm}, Get: faulty.Rule{Count: 5, Err: objstore.ErrNotFound}})
	if err := s.Put(ctx, "k", nil); err != perm {
		t.Fatalf("permanent Put error: %v", err)
	}
	if _, err := s.GetRange(ctx, "k", 0, -1); err != objstore.ErrNotFound {
		t.Fatalf("injected ErrNotFound: %v", err)
	}
	if st := f.Stats(); st.Puts != 1 || st.Gets != 2 {
		t.Fatalf("calls = %+v, want 1 Put and 2 Gets in all", st)
	}
	// A custom classification.
	f.Set(faulty.Config{Put: faulty.Rule{Count: 5}})
	p := policy(5)
	p.Retryable = func(error) bool { return false }
	before := f.Stats().Puts
	if err := objstore.WithRetry(f, p).Put(ctx, "k", nil); !errors.Is(err, faulty.ErrInjected) {
		t.Fatal(err)
	}
	if n := f.Stats().Puts - before; n != 1 {
		t.Fatalf("Retryable=false: %d Puts", n)
	}
}

// A Put whose reply was lost (the object is stored, the caller sees an
// error) is retried and succeeds: Put is idempotent for unique keys.
func TestRetryPutOutcomeUnknown(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem(), faulty.Config{Put: faulty.Rule{Count: 2, After: true}})
	s := objstore.WithRetry(f, policy(3))
	if err := s.Put(ctx, "seg/1", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GetRange(ctx, "seg/1", 0, -1); err != nil || string(b) != "payload" {
		t.Fatalf("got %q %v", b, err)
	}
	var n int
	if err := s.List(ctx, "", func(string, int64) bool { n++; return true }); err != nil || n != 1 {
		t.Fatalf("List: %d keys, %v", n, err)
	}
}

func TestRetryTimeout(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem(), faulty.Config{})
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f.Set(faulty.Config{Get: faulty.Rule{Latency: time.Hour}})
	gets := f.Stats().Gets
	p := policy(3)
	p.Timeout = 20 * time.Millisecond
	start := time.Now()
	_, err := objstore.WithRetry(f, p).GetRange(ctx, "k", 0, -1)
	if err == nil || !strings.Contains(err.Error(), "attempt timed out after 20ms") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("slow Get: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if n := f.Stats().Gets - gets; n != 3 {
		t.Fatalf("a timed-out attempt was not retried: %d Gets", n)
	}
}

// The caller's context ends the retries: no attempt after it is done.
func TestRetryCallerContext(t *testing.T) {
	f := faulty.New(mem(), faulty.Config{Put: faulty.Rule{Prob: 1}})
	p := policy(1000)
	p.BaseDelay, p.MaxDelay = 10*time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := objstore.WithRetry(f, p).Put(ctx, "k", nil)
	if !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("err = %v, want the last attempt's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v after the context ended", d)
	}
	if n := f.Stats().Puts; n < 2 || n > 20 {
		t.Fatalf("%d attempts in 50ms with 5-10ms waits", n)
	}
	// A cancelled context is not retried at all.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	f.Set(faulty.Config{})
	if err := objstore.WithRetry(f, p).Put(cctx, "k", nil); err == nil {
		t.Fatal("Put on a cancelled context succeeded")
	}
}

// A List that fails part-way resumes after the last key delivered: fn
// sees every key once, in order.
func TestRetryListResumes(t *testing.T) {
	ctx := context.Background()
	f := faulty.New(mem(), faulty.Config{})
	var want []string
	for i := range 5 {
		k := fmt.Sprintf("p/%d", i)
		want = append(want, k)
		if err := f.Put(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	f.Set(faulty.Config{List: faulty.Rule{Count: 2, After: true}})
	lists := f.Stats().Lists
	var got []string
	err := objstore.WithRetry(f, policy(3)).List(ctx, "p/", func(k string, _ int64) bool {
		got = append(got, k)
		return true
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v, %v; want %v", got, err, want)
	}
	if n := f.Stats().Lists - lists; n != 3 {
		t.Fatalf("Lists = %d, want 3", n)
	}
	// Failing for good: the error after the bound, keys still once.
	f.Set(faulty.Config{List: faulty.Rule{Count: 100, After: true}})
	got = nil
	err = objstore.WithRetry(f, policy(3)).List(ctx, "p/", func(k string, _ int64) bool {
		got = append(got, k)
		return true
	})
	if !errors.Is(err, faulty.ErrInjected) || fmt.Sprint(got) != "[p/0]" {
		t.Fatalf("List = %v, %v", got, err)
	}
}

// A slow page times out and the listing resumes; time the caller spends
// in fn does not count.
func TestRetryListTimeout(t *testing.T) {
	ctx := context.Background()
	s := mem()
	for i := range 3 {
		if err := s.Put(ctx, fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	p := policy(2)
	p.Timeout = 30 * time.Millisecond
	var got []string
	err := objstore.WithRetry(s, p).List(ctx, "", func(k string, _ int64) bool {
		got = append(got, k)
		time.Sleep(50 * time.Millisecond) // longer than Timeout
		return true
	})
	if err != nil || fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("slow caller: %v %v", got, err)
	}
	f := faulty.New(s, faulty.Config{List: faulty.Rule{Latency: time.Hour}})
	err = objstore.WithRetry(f, p).List(ctx, "", func(string, int64) bool { return true })
	if err == nil || !strings.Contains(err.Error(), "attempt timed out") || f.Stats().Lists != 2 {
		t.Fatalf("slow store: %v after %d Lists", err, f.Stats().Lists)
	}
}

func TestIsTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection reset"), true},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), true},
		{objstore.ErrNotFound, false},
		{fmt.Errorf("get: %w", objstore.ErrNotFound), false},
		{objstore.Permanent(errors.New("denied")), false},
		{fmt.Errorf("put: %w", objstore.Permanent(errors.New("denied"))), false},
		{context.Canceled, false},
	} {
		if got := objstore.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%v) = %v", c.err, got)
		}
	}
	if objstore.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	inner := errors.New("x")
	if p := objstore.Permanent(inner); !errors.Is(p, inner) || p.Error() != "x" || objstore.Permanent(p) != p {
		t.Error("Permanent does not wrap transparently")
	}
}

// countingStore records the most Puts in flight at once.
type countingStore struct {
	objstore.Store
	in, peak atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, key string, data []byte) error {
	n := c.in.Add(1)
	defer c.in.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	return c.Store.Put(ctx, key, data)
}

func TestLimitPuts(t *testing.T) {
	c := &countingStore{Store: mem()}
	s := objstore.LimitPuts(c, 3)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Put(context.Background(), fmt.Sprint(i), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := c.peak.Load(); p < 2 || p > 3 {
		t.Fatalf("peak in-flight Puts = %d, want 3 (at most)", p)
	}
	// A Put waiting for a slot gives way to its context.
	one := objstore.LimitPuts(&countingStore{Store: faulty.New(mem(), faulty.Config{Latency: time.Hour})}, 1)
	go one.Put(context.Background(), "slow", nil)
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := one.Put(ctx, "k", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting Put: %v", err)
	}
	if objstore.LimitPuts(c, 0) != objstore.Store(c) {
		t.Fatal("LimitPuts(s, 0) wraps")
	}
}
