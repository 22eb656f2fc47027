package blobstore

import (
	"context"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
)

func TestConformanceMem(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return New(memblob.OpenBucket(nil))
	}, objstoretest.Prefixes(func(t *testing.T) objstoretest.PrefixOpener {
		b := memblob.OpenBucket(nil)
		t.Cleanup(func() { b.Close() })
		return func(t *testing.T, prefix string) objstore.Store {
			if prefix != "" {
				prefix += "/"
			}
			s, err := NewPrefixed(b, prefix)
			if err != nil {
				t.Fatal(err)
			}
			return sharedBucket{s}
		}
	}))
}

// sharedBucket is a store whose Close leaves the bucket, which other
// stores share, open.
type sharedBucket struct{ objstore.Store }

func (sharedBucket) Close() error { return nil }

func TestOpenMem(t *testing.T) {
	ctx := context.Background()
	s, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Each mem:// store is its own.
	s2, _ := objstore.Open(ctx, "mem://")
	defer s2.Close()
	if _, err := s2.GetRange(ctx, "k", 0, -1); err != objstore.ErrNotFound {
		t.Fatalf("second mem store sees first's key: %v", err)
	}
	if _, err := objstore.Open(ctx, "mem://bucket?x=1"); err == nil || !strings.Contains(err.Error(), "mem://bucket?x=1") {
		t.Fatalf("mem:// with a path: %v", err)
	}
	// filestore is not linked into this test binary: the error must say
	// what to import.
	if _, err := objstore.Open(ctx, "file:///tmp/x"); err == nil || !strings.Contains(err.Error(), "filestore") {
		t.Fatalf("unlinked file backend: %v", err)
	}
}
