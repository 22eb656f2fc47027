package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// PrefixOpener opens stores over one shared bucket: open(t, "") is the
// whole bucket, open(t, p) the keys under p + "/" (its keys relative to
// that), as the prefix= parameter of the cloud URLs or a subdirectory of a
// file:// store gives. Each store it returns is independent: closing one
// leaves the others and the bucket usable.
type PrefixOpener func(t *testing.T, prefix string) objstore.Store

// Option adds cases to Run.
type Option func(*config)

type config struct {
	newBucket func(t *testing.T) PrefixOpener
}

// Prefixes adds the prefix-isolation cases: newBucket returns a
// PrefixOpener over a fresh, empty bucket.
func Prefixes(newBucket func(t *testing.T) PrefixOpener) Option {
	return func(c *config) { c.newBucket = newBucket }
}

// Run runs the suite. open must return a fresh, empty store; Run closes it.
func Run(t *testing.T, open func(t *testing.T) objstore.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"PutGet", testPutGet},
		{"Ranges", testRanges},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListOrderAcrossDirs", testListOrder},
		{"ListEarlyStop", testListEarlyStop},
		{"ConcurrentPuts", testConcurrentPuts},
		{"SlashKeys", testSlashKeys},
		{"Empty", testEmptyObject},
		{"RangesAtEnd", testRangesAtEnd},
		{"Large", testLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer closeStore(t, s)
			tc.fn(t, s)
		})
	}
	if cfg.newBucket == nil {
		return
	}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, open PrefixOpener)
	}{
		{"PrefixIsolation", testPrefixIsolation},
		{"PrefixSiblings", testPrefixSiblings},
		{"PrefixNested", testPrefixNested},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, cfg.newBucket(t)) })
	}
}

func closeStore(t *testing.T, s objstore.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// openPrefixed opens a prefixed store and closes it at the end of the test.
func openPrefixed(t *testing.T, open PrefixOpener, prefix string) objstore.Store {
	t.Helper()
	s := open(t, prefix)
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string, off, n int64) []byte {
	t.Helper()
	b, err := s.GetRange(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", key, off, n, err)
	}
	return b
}

func list(t *testing.T, s objstore.Store, prefix string) (keys []string, sizes []int64) {
	t.Helper()
	err := s.List(context.Background(), prefix, func(k string, n int64) bool {
		keys = append(keys, k)
		sizes = append(sizes, n)
		return true
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys, sizes
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}

func testPutGet(t *testing.T, s objstore.Store) {
	d := data(1000)
	put(t, s, "obj", d)
	if got := get(t, s, "obj", 0, -1); !bytes.Equal(got, d) {
		t.Fatalf("whole read: got %d bytes, want %d", len(got), len(d))
	}
	// The store must not keep the caller's slice.
	d[0] ^= 0xff
	if got := get(t, s, "obj", 0, 1); got[0] == d[0] {
		t.Fatalf("store aliases the Put buffer")
	}
}

func testRanges(t *testing.T, s objstore.Store) {
	d := data(100)
	put(t, s, "r", d)
	cases := []struct {
		off, n int64
		want   []byte
	}{
		{0, 100, d},
		{0, -1, d},
		{10, 20, d[10:30]},
		{10, -1, d[10:]},
		{90, 20, d[90:]}, // runs past the end
		{99, 1, d[99:]},
		{50, 0, nil},   // zero length
		{100, 10, nil}, // starts at the end
		{100, -1, nil},
		{150, 10, nil}, // starts past the end
		{150, -1, nil},
	}
	for _, c := range cases {
		got := get(t, s, "r", c.off, c.n)
		if !bytes.Equal(got, c.want) {
			t.Errorf("GetRange(%d, %d) = %d bytes, want %d", c.off, c.n, len(got), len(c.want))
		}
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "k", []byte("first version, long"))
	put(t, s, "k", []byte("second"))
	if got := get(t, s, "k", 0, -1); string(got) != "second" {
		t.Fatalf("after overwrite got %q", got)
	}
	keys, sizes := list(t, s, "")
	if len(keys) != 1 || keys[0] != "k" || sizes[0] != 6 {
		t.Fatalf("List after overwrite = %v %v", keys, sizes)
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	for _, c := range []struct{ off, n int64 }{{0, -1}, {0, 0}, {5, 10}} {
		if _, err := s.GetRange(ctx, "nope", c.off, c.n); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(missing, %d, %d) err = %v, want ErrNotFound", c.off, c.n, err)
		}
	}
	put(t, s, "dir/x", []byte("x"))
	if _, err := s.GetRange(ctx, "dir/y", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange(missing in existing dir) err = %v", err)
	}
	if _, err := s.GetRange(ctx, "dir/x/z", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange(below an object) err = %v", err)
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	ctx := context.Background()
	put(t, s, "a", []byte("1"))
	put(t, s, "b", []byte("2"))
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.GetRange(ctx, "a", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("deleted key: err = %v", err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete again: %v", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Fatalf("Delete missing: %v", err)
	}
	if keys, _ := list(t, s, ""); len(keys) != 1 || keys[0] != "b" {
		t.Fatalf("List after delete = %v", keys)
	}
}

func testList(t *testing.T, s objstore.Store) {
	in := map[string]int{"t/1": 1, "t/2": 22, "t/10": 3, "u/1": 4, "t0": 5, "s": 6}
	for k, n := range in {
		put(t, s, k, data(n))
	}
	check := func(prefix string, want ...string) {
		t.Helper()
		keys, sizes := list(t, s, prefix)
		if fmt.Sprint(keys) != fmt.Sprint(want) {
			t.Errorf("List(%q) = %v, want %v", prefix, keys, want)
		}
		for i, k := range keys {
			if sizes[i] != int64(in[k]) {
				t.Errorf("List(%q): size of %q = %d, want %d", prefix, k, sizes[i], in[k])
			}
		}
	}
	check("", "s", "t/1", "t/10", "t/2", "t0", "u/1")
	check("t", "t/1", "t/10", "t/2", "t0")
	check("t/", "t/1", "t/10", "t/2")
	check("t/1", "t/1", "t/10")
	check("t/10", "t/10")
	check("u/", "u/1")
	check("v")
	check("t/3")
}

// testListOrder checks byte order across directory boundaries: '-' and '.'
// sort before '/', so "a-b" and "a.b" come before "a/...".
func testListOrder(t *testing.T, s objstore.Store) {
	keys := []string{"a/b", "a-c", "a.d", "a0", "a/a/z", "a/a-", "b"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	got, _ := list(t, s, "")
	want := []string{"a-c", "a.d", "a/a-", "a/a/z", "a/b", "a0", "b"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	got, _ = list(t, s, "a/a")
	if want := []string{"a/a-", "a/a/z"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List(a/a) = %v, want %v", got, want)
	}
}

func testListEarlyStop(t *testing.T, s objstore.Store) {
	for i := range 10 {
		put(t, s, fmt.Sprintf("p/%02d", i), []byte{byte(i)})
	}
	var got []string
	err := s.List(context.Background(), "p/", func(k string, _ int64) bool {
		got = append(got, k)
		return len(got) < 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"p/00", "p/01", "p/02"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("early stop: got %v, want %v", got, want)
	}
}

func testConcurrentPuts(t *testing.T, s objstore.Store) {
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Distinct keys in shared and fresh directories, plus one
				// key everybody overwrites.
				k := fmt.Sprintf("c/%d/%d", w, i)
				if err := s.Put(context.Background(), k, []byte(k)); err != nil {
					errs <- err
				}
				if err := s.Put(context.Background(), "c/shared", []byte{byte(w)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Put: %v", err)
	}
	keys, _ := list(t, s, "c/")
	if len(keys) != workers*each+1 {
		t.Fatalf("got %d keys, want %d", len(keys), workers*each+1)
	}
	for w := range workers {
		for i := range each {
			k := fmt.Sprintf("c/%d/%d", w, i)
			if got := get(t, s, k, 0, -1); string(got) != k {
				t.Fatalf("%s = %q", k, got)
			}
		}
	}
	if got := get(t, s, "c/shared", 0, -1); len(got) != 1 || got[0] >= workers {
		t.Fatalf("c/shared = %v", got)
	}
}

func testSlashKeys(t *testing.T, s objstore.Store) {
	k := "topics/abc/0/00000000000000000042.obj"
	put(t, s, k, []byte("deep"))
	if got := get(t, s, k, 1, 2); string(got) != "ee" {
		t.Fatalf("got %q", got)
	}
	if keys, _ := list(t, s, "topics/abc/"); len(keys) != 1 || keys[0] != k {
		t.Fatalf("List = %v", keys)
	}
	if err := s.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	if keys, _ := list(t, s, ""); len(keys) != 0 {
		t.Fatalf("List after delete = %v", keys)
	}
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	put(t, s, "empty", nil)
	if got := get(t, s, "empty", 0, -1); len(got) != 0 {
		t.Fatalf("got %d bytes", len(got))
	}
	keys, sizes := list(t, s, "")
	if len(keys) != 1 || sizes[0] != 0 {
		t.Fatalf("List = %v %v", keys, sizes)
	}
}

// testRangesAtEnd reads the last bytes of objects of several sizes, around
// the boundaries where services answer a range with 206, 200 or 416.
func testRangesAtEnd(t *testing.T, s objstore.Store) {
	for _, n := range []int{1, 2, 4096, 65537} {
		d := data(n)
		k := fmt.Sprintf("end/%d", n)
		put(t, s, k, d)
		size := int64(n)
		type rangeCase struct {
			off, n int64
			want   []byte
		}
		cases := []rangeCase{
			{size - 1, 1, d[n-1:]},  // the last byte
			{size - 1, -1, d[n-1:]}, // the last byte, to the end
			{size - 1, 2, d[n-1:]},  // one past the end
			{size - 1, 1 << 30, d[n-1:]},
			{0, size, d},
			{0, size + 1, d},
			{size, 1, nil}, // at the end
			{size, 0, nil},
			{size + 1, -1, nil}, // past the end
			{size + 1, 1, nil},
		}
		if n > 1 {
			cases = append(cases,
				rangeCase{size - 2, 2, d[n-2:]},
				rangeCase{size / 2, size - size/2, d[n/2:]},
			)
		}
		for _, c := range cases {
			got := get(t, s, k, c.off, c.n)
			if !bytes.Equal(got, c.want) {
				t.Errorf("size %d: GetRange(%d, %d) = %d bytes, want %d", n, c.off, c.n, len(got), len(c.want))
			}
		}
	}
	// An empty object has nothing at or past its end either.
	put(t, s, "end/0", nil)
	for _, c := range []struct{ off, n int64 }{{0, 1}, {0, -1}, {0, 0}, {1, -1}, {1, 1}} {
		if got := get(t, s, "end/0", c.off, c.n); len(got) != 0 {
			t.Errorf("empty: GetRange(%d, %d) = %d bytes", c.off, c.n, len(got))
		}
	}
}

// testLarge writes an object bigger than the usual upload part (5 MiB),
// which cloud SDKs send in several parts, and reads its ends back.
func testLarge(t *testing.T, s objstore.Store) {
	const n = 6<<20 + 123
	d := data(n)
	put(t, s, "large", d)
	if got := get(t, s, "large", 0, -1); !bytes.Equal(got, d) {
		t.Fatalf("whole read: %d bytes, want %d (or different bytes)", len(got), n)
	}
	if got := get(t, s, "large", n-1000, 5000); !bytes.Equal(got, d[n-1000:]) {
		t.Fatalf("tail read: %d bytes", len(got))
	}
	if got := get(t, s, "large", 5<<20-10, 20); !bytes.Equal(got, d[5<<20-10:5<<20+10]) {
		t.Fatalf("read across the part boundary: %d bytes", len(got))
	}
	if keys, sizes := list(t, s, ""); len(keys) != 1 || sizes[0] != n {
		t.Fatalf("List = %v %v", keys, sizes)
	}
}

// testPrefixIsolation: two stores with different prefixes on one bucket do
// not see each other's keys, and the bucket holds both under their
// prefixes.
func testPrefixIsolation(t *testing.T, open PrefixOpener) {
	ctx := context.Background()
	a := openPrefixed(t, open, "cluster-a")
	b := openPrefixed(t, open, "cluster-b")
	put(t, a, "k", []byte("from a"))
	put(t, a, "only-a/x", []byte("ax"))
	put(t, b, "k", []byte("from b"))
	if got := get(t, a, "k", 0, -1); string(got) != "from a" {
		t.Fatalf("a sees k = %q", got)
	}
	if got := get(t, b, "k", 0, -1); string(got) != "from b" {
		t.Fatalf("b sees k = %q", got)
	}
	if _, err := b.GetRange(ctx, "only-a/x", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("b reads a's key: err = %v", err)
	}
	if keys, _ := list(t, a, ""); fmt.Sprint(keys) != "[k only-a/x]" {
		t.Fatalf("a lists %v", keys)
	}
	if keys, sizes := list(t, b, ""); fmt.Sprint(keys) != "[k]" || sizes[0] != 6 {
		t.Fatalf("b lists %v %v", keys, sizes)
	}
	if keys, _ := list(t, b, "only"); len(keys) != 0 {
		t.Fatalf("b lists a's keys: %v", keys)
	}
	root := openPrefixed(t, open, "")
	if keys, _ := list(t, root, ""); fmt.Sprint(keys) != "[cluster-a/k cluster-a/only-a/x cluster-b/k]" {
		t.Fatalf("the bucket holds %v", keys)
	}
	if got := get(t, root, "cluster-b/k", 5, -1); string(got) != "b" {
		t.Fatalf("bucket's cluster-b/k from 5 = %q", got)
	}
	// Deleting in one leaves the other alone.
	if err := a.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "only-a/x"); err != nil { // not b's: a no-op
		t.Fatal(err)
	}
	if got := get(t, b, "k", 0, -1); string(got) != "from b" {
		t.Fatalf("after a's delete b sees k = %q", got)
	}
	if got := get(t, a, "only-a/x", 0, -1); string(got) != "ax" {
		t.Fatalf("after b's delete a sees only-a/x = %q", got)
	}
	if _, err := a.GetRange(ctx, "k", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a's deleted key: err = %v", err)
	}
}

// testPrefixSiblings: a prefix that is a string prefix of another
// ("c1" and "c10") still isolates, because keys live under "c1/".
func testPrefixSiblings(t *testing.T, open PrefixOpener) {
	c1 := openPrefixed(t, open, "c1")
	c10 := openPrefixed(t, open, "c10")
	put(t, c10, "k", []byte("10"))
	put(t, c1, "k", []byte("1"))
	if keys, _ := list(t, c1, ""); fmt.Sprint(keys) != "[k]" {
		t.Fatalf("c1 lists %v", keys)
	}
	if got := get(t, c1, "k", 0, -1); string(got) != "1" {
		t.Fatalf("c1 reads %q", got)
	}
	if got := get(t, c10, "k", 0, -1); string(got) != "10" {
		t.Fatalf("c10 reads %q", got)
	}
}

// testPrefixNested: a multi-segment prefix, and a second store on the same
// prefix sees the first one's keys (two brokers of one cluster).
func testPrefixNested(t *testing.T, open PrefixOpener) {
	a := openPrefixed(t, open, "env/prod/cluster")
	a2 := openPrefixed(t, open, "env/prod/cluster")
	other := openPrefixed(t, open, "env/prod")
	put(t, a, "topics/t/0/1.obj", []byte("one"))
	if got := get(t, a2, "topics/t/0/1.obj", 0, -1); string(got) != "one" {
		t.Fatalf("same prefix reads %q", got)
	}
	if keys, _ := list(t, a2, "topics/"); fmt.Sprint(keys) != "[topics/t/0/1.obj]" {
		t.Fatalf("same prefix lists %v", keys)
	}
	if keys, _ := list(t, other, ""); fmt.Sprint(keys) != "[cluster/topics/t/0/1.obj]" {
		t.Fatalf("enclosing prefix lists %v", keys)
	}
}
