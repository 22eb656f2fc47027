package s3store

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

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

func TestConformance(t *testing.T) {
	srv := testservers.StartS3(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return open(t, srv.URL(srv.NewBucket(t)))
	}, objstoretest.Prefixes(func(t *testing.T) objstoretest.PrefixOpener {
		bucket := srv.NewBucket(t)
		return func(t *testing.T, prefix string) objstore.Store {
			return open(t, srv.URL(bucket, "prefix="+prefix))
		}
	}))
}

func TestOpenErrors(t *testing.T) {
	srv := testservers.StartS3(t)
	ctx := context.Background()
	fast := []string{"retries=1", "timeout=5s"}

	_, err := objstore.Open(ctx, srv.URL("no-such-bucket", fast...))
	if err == nil || !strings.Contains(err.Error(), `S3 bucket "no-such-bucket" does not exist`) {
		t.Fatalf("missing bucket: %v", err)
	}

	bucket := srv.NewBucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "wrong-key")
	start := time.Now()
	_, err = objstore.Open(ctx, srv.URL(bucket, fast...))
	if err == nil || !strings.Contains(err.Error(), "S3 refused the credentials") ||
		!strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		t.Fatalf("wrong key: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("refused credentials took %v: retried?", d)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", testservers.S3AccessKey)

	for _, c := range []struct{ url, want string }{
		{"s3://" + bucket + "/dir", "prefix=dir"},
		{srv.URL(bucket, "unknown_param=1"), "unknown_param"},
	} {
		if _, err := objstore.Open(ctx, c.url); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error with %q", c.url, err, c.want)
		}
	}

	// Nothing listens: a transient failure, retried, then one error.
	dead := "s3://" + bucket + "?region=us-east-1&use_path_style=true&endpoint=http://127.0.0.1:1&retries=1&timeout=2s"
	if _, err := objstore.Open(ctx, dead); err == nil || !strings.Contains(err.Error(), "cannot be listed") {
		t.Fatalf("no server: %v", err)
	}
}

// TestTruncatedRepliesNotServed: a GET whose reply is cut short, either
// with a Content-Length that matches the short body (the HTTP client
// cannot tell) or by a connection dropped mid-body, is an error, never
// fewer bytes passed off as the object's; with retries the read gets the
// whole range. The truncation comes from testservers' fault proxy in
// front of the in-process S3 server.
func TestTruncatedRepliesNotServed(t *testing.T) {
	srv := testservers.StartS3(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := open(t, srv.URL(bucket)).Put(ctx, "k", data); err != nil {
		t.Fatal(err)
	}
	ranges := [][2]int64{{0, -1}, {100, 1000}, {60000, -1}, {60000, 10000}}
	for _, c := range []struct {
		name  string
		rates testservers.FaultRates
		kind  int
	}{
		{"short body", testservers.FaultRates{ShortGet: 1}, testservers.FaultShortGet},
		{"dropped connection", testservers.FaultRates{CutGet: 1}, testservers.FaultCutGet},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := testservers.StartFaultProxy(t, srv.Endpoint, c.rates, 1)
			proxy.Enable()
			s := open(t, srv.URL(bucket, "endpoint="+proxy.URL, "retries=0"))
			for _, rg := range ranges {
				if b, err := s.GetRange(ctx, "k", rg[0], rg[1]); err == nil {
					t.Fatalf("GetRange(%d, %d) of a truncated reply: %d bytes and no error", rg[0], rg[1], len(b))
				}
			}
			if n := proxy.Count(c.kind); n < int64(len(ranges)) {
				t.Fatalf("%d truncations injected for %d reads", n, len(ranges))
			}
		})
	}
	t.Run("retried", func(t *testing.T) {
		proxy := testservers.StartFaultProxy(t, srv.Endpoint, testservers.FaultRates{ShortGet: 0.2, CutGet: 0.2}, 2)
		proxy.Enable()
		s := open(t, srv.URL(bucket, "endpoint="+proxy.URL, "retries=20"))
		for range 4 {
			for _, rg := range ranges {
				want := data[rg[0]:]
				if rg[1] >= 0 && rg[0]+rg[1] < int64(len(data)) {
					want = data[rg[0] : rg[0]+rg[1]]
				}
				b, err := s.GetRange(ctx, "k", rg[0], rg[1])
				if err != nil || !bytes.Equal(b, want) {
					t.Fatalf("GetRange(%d, %d): %d bytes, want %d; %v", rg[0], rg[1], len(b), len(want), err)
				}
			}
		}
		if proxy.Count(testservers.FaultShortGet) == 0 || proxy.Count(testservers.FaultCutGet) == 0 {
			t.Fatalf("no truncation injected: %s", proxy.Summary())
		}
	})
}
