package blobstore

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// The URL query parameters that OpenURL handles itself, for every cloud
// scheme, before the driver sees the rest.
const (
	// ParamPrefix puts every key under prefix/ (a "/" is added if
	// missing), so that several clusters can share one bucket.
	ParamPrefix = "prefix"
	// ParamTimeout bounds each request (a Go duration; "0" for none).
	// Default 30s.
	ParamTimeout = "timeout"
	// ParamRetries is how many times a call that failed with a transient
	// error is tried again (0: never). Default 3.
	ParamRetries = "retries"
	// ParamMaxUploads caps the Puts running at once (0: no cap, the
	// default; the broker's produce pipeline bounds its uploads itself).
	ParamMaxUploads = "max_uploads"
)

// Backend is a cloud scheme as OpenURL needs it.
type Backend struct {
	// Name is the service's name in messages ("S3").
	Name string
	// Credentials tells where the credentials come from, for the message
	// that says they were refused.
	Credentials string
	// Open opens the bucket u names. OpenURL has removed its own
	// parameters and any path from u; the driver should refuse query
	// parameters it does not know.
	Open func(ctx context.Context, u *url.URL) (*blob.Bucket, error)
	// Code, if set, classifies errors that gocloud's driver calls
	// gcerrors.Unknown, e.g. an HTTP 401 or 403 as PermissionDenied. Its
	// answer decides which errors are retried and what a failed check at
	// Open says.
	Code func(error) gcerrors.ErrorCode
}

// options are the parameters OpenURL handles.
type options struct {
	prefix     string
	retry      objstore.RetryPolicy
	maxUploads int
}

// parseOptions takes OpenURL's parameters out of q.
func parseOptions(q url.Values) (options, error) {
	o := options{retry: objstore.DefaultRetryPolicy()}
	take := func(name string) (string, bool) {
		if _, ok := q[name]; !ok {
			return "", false
		}
		v := q.Get(name)
		q.Del(name)
		return v, true
	}
	if v, ok := take(ParamPrefix); ok && v != "" {
		if strings.HasPrefix(v, "/") {
			return o, fmt.Errorf("%s=%q: must not start with /", ParamPrefix, v)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(v, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				return o, fmt.Errorf("%s=%q: empty, . or .. path segment", ParamPrefix, v)
			}
		}
		if !strings.HasSuffix(v, "/") {
			v += "/"
		}
		o.prefix = v
	}
	if v, ok := take(ParamTimeout); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return o, fmt.Errorf("%s=%q: want a duration such as 30s, or 0 for none", ParamTimeout, v)
		}
		o.retry.Timeout = d
	}
	if v, ok := take(ParamRetries); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%s=%q: want a count >= 0", ParamRetries, v)
		}
		o.retry.Attempts = n + 1
	}
	if v, ok := take(ParamMaxUploads); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, fmt.Errorf("%s=%q: want a count >= 0", ParamMaxUploads, v)
		}
		o.maxUploads = n
	}
	return o, nil
}

// OpenURL opens the cloud bucket that rawURL names ("scheme://bucket?…")
// through be, and returns it as a store that retries transient failures
// (objstore.WithRetry), bounds each request in time, and caps concurrent
// Puts if asked; see the Param constants for the parameters it handles.
// A path in the URL is refused: it would be silently ignored by some
// drivers, so a key prefix must be given as prefix=.
//
// Before returning, OpenURL checks that the bucket exists and accepts the
// credentials, so that a wrong name or key fails here with one clear error
// rather than on the first produce. The check is one listing request for
// at most one key under the prefix (S3 ListObjectsV2 max-keys=1, GCS
// objects.list maxResults=1, Azure List Blobs maxresults=1): a class A
// request on S3 and GCS, about $0.005 per thousand, made once per Open.
// It needs the list permission, which the broker needs anyway.
func OpenURL(ctx context.Context, rawURL string, be Backend) (objstore.Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("objstore: bad store URL %q: %w", rawURL, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("objstore: store URL %q names no bucket (want %s://bucket)", rawURL, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("objstore: store URL %q: credentials do not go in the URL; %s takes them from %s", rawURL, be.Name, be.Credentials)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("objstore: store URL %q: a path is not supported; to put keys under a prefix use %s://%s?%s=%s",
			rawURL, u.Scheme, u.Host, ParamPrefix, url.QueryEscape(strings.Trim(u.Path, "/")))
	}
	q := u.Query()
	o, err := parseOptions(q)
	if err != nil {
		return nil, fmt.Errorf("objstore: store URL %q: %w", rawURL, err)
	}
	bu := *u
	bu.Path, bu.RawPath, bu.RawQuery, bu.Fragment = "", "", q.Encode(), ""
	b, err := be.Open(ctx, &bu)
	if err != nil {
		return nil, fmt.Errorf("objstore: store URL %q: %w", rawURL, err)
	}
	s := &Store{b: b, prefix: o.prefix, code: be.Code}
	if err := s.check(ctx, o.retry); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("objstore: store URL %q: %s", rawURL, s.checkMessage(be, u.Host, err))
	}
	return objstore.WithRetry(objstore.LimitPuts(s, o.maxUploads), o.retry), nil
}

// check lists at most one key, retrying as p says.
func (s *Store) check(ctx context.Context, p objstore.RetryPolicy) error {
	return objstore.Retry(ctx, p, func(ctx context.Context) error {
		_, _, err := s.b.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: s.prefix})
		if err != nil {
			return s.failed("list", "", err)
		}
		return nil
	})
}

func (s *Store) checkMessage(be Backend, bucket string, err error) string {
	switch s.errCode(err) {
	case gcerrors.NotFound:
		return fmt.Sprintf("%s bucket %q does not exist (or these credentials may not list it): %v", be.Name, bucket, err)
	case gcerrors.PermissionDenied:
		return fmt.Sprintf("%s refused the credentials for bucket %q (they come from %s): %v", be.Name, bucket, be.Credentials, err)
	}
	return fmt.Sprintf("%s bucket %q cannot be listed: %v", be.Name, bucket, err)
}

// StatusCode maps an HTTP status that a driver left as gcerrors.Unknown:
// 401 and 403 to PermissionDenied, 404 to NotFound, 416 (a range outside
// the object) to InvalidArgument; anything else stays Unknown (and so
// transient). Backends use it in their Code.
func StatusCode(status int) gcerrors.ErrorCode {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return gcerrors.PermissionDenied
	case http.StatusNotFound:
		return gcerrors.NotFound
	case http.StatusRequestedRangeNotSatisfiable:
		return gcerrors.InvalidArgument
	}
	return gcerrors.Unknown
}
