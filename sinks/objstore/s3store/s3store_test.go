package s3store

import (
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
