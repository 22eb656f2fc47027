package gcsstore

import (
	"context"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
	"github.com/sluicedata/sluice/sinks/objstore/testservers"
)

func open(t *testing.T, url string) objstore.Store {
	t.Helper()
	s, err := objstore.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	return s
}

// TestConformance reaches the server through STORAGE_EMULATOR_HOST.
func TestConformance(t *testing.T) {
	srv := testservers.StartGCS(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return open(t, srv.URL(srv.NewBucket(t)))
	}, objstoretest.Prefixes(func(t *testing.T) objstoretest.PrefixOpener {
		bucket := srv.NewBucket(t)
		return func(t *testing.T, prefix string) objstore.Store {
			return open(t, srv.URL(bucket, "prefix="+prefix))
		}
	}))
}

// TestEndpoint names the server in the URL instead, with no emulator
// variable set: writes, ranged reads (uploads and XML reads both go to the
// endpoint), listing under a prefix.
func TestEndpoint(t *testing.T) {
	srv := testservers.StartGCS(t)
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	s := open(t, srv.URL(bucket, "endpoint="+srv.Endpoint, "prefix=cl"))
	defer s.Close()
	if err := s.Put(ctx, "a/k", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.GetRange(ctx, "a/k", 1, 3); err != nil || string(b) != "ell" {
		t.Fatalf("GetRange = %q, %v", b, err)
	}
	if b, err := s.GetRange(ctx, "a/k", 5, -1); err != nil || len(b) != 0 {
		t.Fatalf("GetRange at the end = %q, %v", b, err)
	}
	root := open(t, srv.URL(bucket, "endpoint="+srv.Endpoint))
	defer root.Close()
	var keys []string
	if err := root.List(ctx, "", func(k string, _ int64) bool { keys = append(keys, k); return true }); err != nil || len(keys) != 1 || keys[0] != "cl/a/k" {
		t.Fatalf("List = %v, %v", keys, err)
	}
}

func TestOpenErrors(t *testing.T) {
	srv := testservers.StartGCS(t)
	ctx := context.Background()
	for _, c := range []struct{ url, want string }{
		{srv.URL("no-such-bucket", "retries=0"), `GCS bucket "no-such-bucket" does not exist`},
		{srv.URL("no-such-bucket", "retries=0", "endpoint="+srv.Endpoint), `GCS bucket "no-such-bucket" does not exist`},
		{srv.URL("b", "endpoint=127.0.0.1:1"), "want http://host:port"},
		{srv.URL("b", "endpoint="+srv.Endpoint, "anonymous=true"), "takes no other driver parameter"},
		{srv.URL("b", "unknown_param=1"), "unknown_param"},
		{"gs://b/dir/x", "prefix=dir%2Fx"},
	} {
		if _, err := objstore.Open(ctx, c.url); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error with %q", c.url, err, c.want)
		}
	}
}
