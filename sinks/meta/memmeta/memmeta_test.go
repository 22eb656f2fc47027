package memmeta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/kvmeta"
	"github.com/sluicedata/sluice/sinks/meta/metatest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store { return New() })
}

// TestCommitLimits runs the suite's limit case on a store with a small
// limit (New's commits are unbounded).
func TestCommitLimits(t *testing.T) {
	s := NewLimited(meta.CommitLimits{Max: 1000, Entry: 13, Partition: 5, Producer: 6})
	defer s.Close()
	metatest.CommitLimits(t, s)
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := meta.Open(ctx, "mem://", "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := meta.Open(ctx, "mem://x", ""); err == nil || !strings.Contains(err.Error(), "mem://x") {
		t.Fatalf("mem://x: %v", err)
	}
	if _, err := meta.Open(ctx, "spanner://p/i/d", ""); err == nil || !strings.Contains(err.Error(), "spanner://p/i/d") {
		t.Fatalf("unknown scheme: %v", err)
	}
	// boltmeta is not linked into this test binary: say what to import.
	if _, err := meta.Open(ctx, "", t.TempDir()); err == nil || !strings.Contains(err.Error(), "boltmeta") {
		t.Fatalf("unlinked bolt backend: %v", err)
	}
}

func TestKVRollback(t *testing.T) {
	kv := NewKV()
	kv.Update(func(tx kvmeta.Tx) error {
		tx.Put([]byte("a"), []byte("1"))
		return tx.Put([]byte("b"), []byte("2"))
	})
	boom := errors.New("boom")
	err := kv.Update(func(tx kvmeta.Tx) error {
		tx.Put([]byte("a"), []byte("changed"))
		tx.Put([]byte("a"), []byte("changed twice"))
		tx.Delete([]byte("b"))
		tx.Put([]byte("c"), []byte("new"))
		return boom
	})
	if err != boom {
		t.Fatalf("Update err = %v", err)
	}
	func() {
		defer func() { recover() }()
		kv.Update(func(tx kvmeta.Tx) error {
			tx.Put([]byte("d"), []byte("x"))
			panic("in Update")
		})
	}()
	var got []string
	kv.View(func(tx kvmeta.Tx) error {
		return tx.Seek(nil, nil, func(k, v []byte) bool {
			got = append(got, string(k)+"="+string(v))
			return true
		})
	})
	if want := "[a=1 b=2]"; fmt.Sprint(got) != want {
		t.Fatalf("after rollback: %v, want %s", got, want)
	}
	if err := kv.View(func(tx kvmeta.Tx) error { return tx.Put([]byte("x"), nil) }); err == nil {
		t.Fatal("Put in View succeeded")
	}
}

func TestKVSeek(t *testing.T) {
	kv := NewKV()
	kv.Update(func(tx kvmeta.Tx) error {
		for _, k := range []string{"a1", "a3", "a2", "b1", "a", "ab"} {
			tx.Put([]byte(k), []byte{})
		}
		return nil
	})
	seek := func(prefix, from string, n int) []string {
		var out []string
		kv.View(func(tx kvmeta.Tx) error {
			var f []byte
			if from != "" {
				f = []byte(from)
			}
			return tx.Seek([]byte(prefix), f, func(k, _ []byte) bool {
				out = append(out, string(k))
				return len(out) < n
			})
		})
		return out
	}
	for _, c := range []struct {
		prefix, from string
		n            int
		want         string
	}{
		{"a", "", 10, "[a a1 a2 a3 ab]"},
		{"a", "a2", 10, "[a2 a3 ab]"},
		{"a", "a25", 10, "[a3 ab]"},
		{"a", "", 2, "[a a1]"},
		{"a1", "", 10, "[a1]"},
		{"c", "", 10, "[]"},
		{"", "ab", 10, "[ab b1]"},
	} {
		if got := fmt.Sprint(seek(c.prefix, c.from, c.n)); got != c.want {
			t.Errorf("Seek(%q, %q) = %s, want %s", c.prefix, c.from, got, c.want)
		}
	}
	if v := func() (v []byte) {
		kv.View(func(tx kvmeta.Tx) error { v = tx.Get([]byte("a")); return nil })
		return
	}(); v == nil {
		t.Fatal("empty value reads as absent")
	}
}
