package faulty

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/blobstore"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
)

func mem() objstore.Store { return blobstore.New(memblob.OpenBucket(nil)) }

// With no faults configured the store is the store it wraps.
func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return New(mem(), Config{}) })
}

func TestCount(t *testing.T) {
	ctx := context.Background()
	f := New(mem(), Config{Put: Rule{Count: 2}})
	for i := range 2 {
		if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrInjected) {
			t.Fatalf("Put %d: %v", i, err)
		}
	}
	if _, err := f.GetRange(ctx, "k", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a failed Put (not After) stored the object: %v", err)
	}
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f.FailGets(1)
	if _, err := f.GetRange(ctx, "k", 0, -1); !errors.Is(err, ErrInjected) {
		t.Fatalf("FailGets: %v", err)
	}
	if b, err := f.GetRange(ctx, "k", 0, -1); err != nil || string(b) != "v" {
		t.Fatalf("Get after: %q %v", b, err)
	}
	want := Stats{Puts: 3, PutFailures: 2, Gets: 3, GetFailures: 1}
	if got := f.Stats(); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

func TestAfter(t *testing.T) {
	ctx := context.Background()
	f := New(mem(), Config{Put: Rule{Count: 1, After: true}, Delete: Rule{Count: 1, After: true}})
	if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, ErrInjected) {
		t.Fatalf("Put: %v", err)
	}
	if b, err := f.Unwrap().GetRange(ctx, "k", 0, -1); err != nil || string(b) != "v" {
		t.Fatalf("an After failure did not store the object: %q %v", b, err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := f.Unwrap().GetRange(ctx, "k", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("an After Delete failure did not delete: %v", err)
	}
}

func TestErrAndList(t *testing.T) {
	ctx := context.Background()
	perm := objstore.Permanent(errors.New("bucket gone"))
	f := New(mem(), Config{Get: Rule{Count: 1, Err: perm}, List: Rule{Count: 1, After: true}})
	for i := range 3 {
		if err := f.Put(ctx, fmt.Sprint(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.GetRange(ctx, "0", 0, -1); err != perm {
		t.Fatalf("Get: %v, want the rule's error", err)
	}
	var keys []string
	err := f.List(ctx, "", func(k string, _ int64) bool { keys = append(keys, k); return true })
	if !errors.Is(err, ErrInjected) || fmt.Sprint(keys) != "[0]" {
		t.Fatalf("After List: %v after %v", err, keys)
	}
	keys = nil
	if err := f.List(ctx, "", func(k string, _ int64) bool { keys = append(keys, k); return true }); err != nil || len(keys) != 3 {
		t.Fatalf("List: %v %v", err, keys)
	}
}

func TestProb(t *testing.T) {
	ctx := context.Background()
	run := func(seed uint64) (fails []int) {
		f := New(mem(), Config{Get: Rule{Prob: 0.3}, Seed: seed})
		if err := f.Put(ctx, "k", nil); err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			if _, err := f.GetRange(ctx, "k", 0, -1); err != nil {
				fails = append(fails, i)
			}
		}
		if got := f.Stats().GetFailures; got != int64(len(fails)) {
			t.Fatalf("Stats says %d failures, saw %d", got, len(fails))
		}
		return fails
	}
	a, b := run(42), run(42)
	if n := len(a); n < 220 || n > 380 {
		t.Fatalf("%d of 1000 failed at p=0.3", n)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("the same seed gave different failures")
	}
}

func TestLatency(t *testing.T) {
	ctx := context.Background()
	f := New(mem(), Config{Latency: 20 * time.Millisecond, Put: Rule{Latency: 10 * time.Millisecond}})
	start := time.Now()
	if err := f.Put(ctx, "k", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Put took %v, want >= 30ms", d)
	}
	start = time.Now()
	if _, err := f.GetRange(ctx, "k", 0, -1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("Get took %v, want >= 20ms", d)
	}
	// The latency gives way to the context.
	f.Set(Config{Latency: time.Hour})
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := f.GetRange(tctx, "k", 0, -1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow Get under a deadline: %v", err)
	}
}
