package blobstore

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/sluicedata/sluice/sinks/objstore"
)

func TestParseOptions(t *testing.T) {
	q := url.Values{"prefix": {"a/b"}, "timeout": {"5s"}, "retries": {"2"}, "max_uploads": {"8"}, "region": {"x"}}
	o, err := parseOptions(q)
	if err != nil {
		t.Fatal(err)
	}
	if o.prefix != "a/b/" || o.retry.Timeout != 5*time.Second || o.retry.Attempts != 3 || o.maxUploads != 8 {
		t.Fatalf("options = %+v", o)
	}
	if len(q) != 1 || q.Get("region") != "x" {
		t.Fatalf("driver parameters left = %v", q)
	}
	d, err := parseOptions(url.Values{"prefix": {"c/"}})
	if err != nil {
		t.Fatal(err)
	}
	def := objstore.DefaultRetryPolicy()
	if d.prefix != "c/" || d.retry.Attempts != def.Attempts || d.retry.Timeout != def.Timeout || d.maxUploads != 0 {
		t.Fatalf("defaults = %+v", d)
	}
	if o, _ := parseOptions(url.Values{"retries": {"0"}, "timeout": {"0"}}); o.retry.Attempts != 1 || o.retry.Timeout != 0 {
		t.Fatalf("retries=0 timeout=0: %+v", o)
	}
	for _, bad := range []url.Values{
		{"prefix": {"/abs"}}, {"prefix": {"a//b"}}, {"prefix": {"a/../b"}}, {"prefix": {"./a"}},
		{"timeout": {"soon"}}, {"timeout": {"-1s"}}, {"retries": {"-1"}}, {"retries": {"x"}},
		{"max_uploads": {"-2"}},
	} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("parseOptions(%v) accepted", bad)
		}
	}
}

// memBackend opens one shared memblob bucket and records the URL the
// driver was given.
type memBackend struct {
	b    *blob.Bucket
	seen *url.URL
}

func (m *memBackend) backend() Backend {
	return Backend{Name: "Mem", Credentials: "nowhere", Open: func(_ context.Context, u *url.URL) (*blob.Bucket, error) {
		m.seen = u
		if q := u.Query(); q.Has("bad") {
			return nil, errors.New("driver refuses bad=")
		}
		return m.b, nil
	}}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	m := &memBackend{b: memblob.OpenBucket(nil)}
	s, err := OpenURL(ctx, "x://bkt?prefix=cl-a&region=r1&timeout=1s&retries=1&max_uploads=2", m.backend())
	if err != nil {
		t.Fatal(err)
	}
	if m.seen.String() != "x://bkt?region=r1" {
		t.Fatalf("driver got %q", m.seen)
	}
	if err := s.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if ok, err := m.b.Exists(ctx, "cl-a/k"); err != nil || !ok {
		t.Fatalf("key not under the prefix: %v %v", ok, err)
	}
	if _, err := s.GetRange(ctx, "nope", 0, -1); err != objstore.ErrNotFound {
		t.Fatalf("missing key: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	m = &memBackend{b: memblob.OpenBucket(nil)}
	for _, c := range []struct{ url, want string }{
		{"x://", "names no bucket"},
		{"x://bkt/some/dir", "use x://bkt?prefix=some%2Fdir"},
		{"x://key:secret@bkt", "credentials do not go in the URL"},
		{"x://bkt?prefix=/a", "must not start with /"},
		{"x://bkt?bad=1", "driver refuses bad="},
		{"x://bkt?timeout=x", "timeout="},
	} {
		_, err := OpenURL(ctx, c.url, m.backend())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenURL(%q) = %v, want an error with %q", c.url, err, c.want)
		}
	}

	// A bucket that cannot be listed fails Open, once (a closed bucket
	// is a permanent error: no retry).
	closed := memblob.OpenBucket(nil)
	closed.Close()
	start := time.Now()
	_, err = OpenURL(ctx, "x://gone", (&memBackend{b: closed}).backend())
	if err == nil || !strings.Contains(err.Error(), `Mem bucket "gone" cannot be listed`) {
		t.Fatalf("closed bucket: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("a permanent error was retried (%v)", time.Since(start))
	}
}

func TestStatusCode(t *testing.T) {
	for status, want := range map[int]gcerrors.ErrorCode{
		http.StatusUnauthorized: gcerrors.PermissionDenied, http.StatusForbidden: gcerrors.PermissionDenied,
		http.StatusNotFound: gcerrors.NotFound, http.StatusInternalServerError: gcerrors.Unknown,
		http.StatusServiceUnavailable: gcerrors.Unknown, http.StatusBadRequest: gcerrors.Unknown,
		http.StatusRequestedRangeNotSatisfiable: gcerrors.InvalidArgument,
	} {
		if got := StatusCode(status); got != want {
			t.Errorf("StatusCode(%d) = %v, want %v", status, got, want)
		}
	}
}
