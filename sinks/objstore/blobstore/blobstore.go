package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/sluicedata/sluice/sinks/objstore"
)

func init() {
	objstore.Register("mem", func(_ context.Context, u string) (objstore.Store, error) {
		if u != "mem://" {
			// memblob takes no options; refuse rather than silently
			// ignore a path the user thought meant something.
			return nil, fmt.Errorf("blobstore: store URL %q: mem:// takes no path or options", u)
		}
		return New(memblob.OpenBucket(nil)), nil
	})
}

// Store is an objstore.Store over a gocloud bucket.
type Store struct {
	b *blob.Bucket
	// prefix ("" or ending in "/") is put before every key in the
	// bucket and taken off every key listed.
	prefix string
	// code refines gocloud's error code where it says Unknown (see
	// Backend.Code); nil: gcerrors.Code alone.
	code func(error) gcerrors.ErrorCode
}

// New returns a store over b; closing the store closes b.
func New(b *blob.Bucket) objstore.Store { return &Store{b: b} }

// NewPrefixed returns a store over the keys of b under prefix, which must
// be "" or end in "/"; the store's keys are relative to it. Closing the
// store closes b.
func NewPrefixed(b *blob.Bucket, prefix string) (objstore.Store, error) {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("blobstore: prefix %q does not end in /", prefix)
	}
	return &Store{b: b, prefix: prefix}, nil
}

func notFound(err error) bool { return gcerrors.Code(err) == gcerrors.NotFound }

// errCode is err's gocloud code, refined by s.code where gocloud says
// Unknown.
func (s *Store) errCode(err error) gcerrors.ErrorCode {
	c := gcerrors.Code(err)
	if c == gcerrors.Unknown && s.code != nil {
		c = s.code(err)
	}
	return c
}

// failed wraps a bucket error for op on key, marking the ones no retry can
// cure objstore.Permanent so that objstore.WithRetry returns them at once.
func (s *Store) failed(op, key string, err error) error {
	c := s.errCode(err)
	err = fmt.Errorf("blobstore: %s %q: %w", op, key, err)
	if permanentCode(c) {
		return objstore.Permanent(err)
	}
	return err
}

// permanentCode tells the gocloud error codes that a retry cannot cure.
// Everything else (Unknown, Internal, ResourceExhausted, DeadlineExceeded
// and codes gocloud may add) counts as transient.
func permanentCode(c gcerrors.ErrorCode) bool {
	switch c {
	case gcerrors.NotFound, gcerrors.PermissionDenied, gcerrors.InvalidArgument,
		gcerrors.FailedPrecondition, gcerrors.Unimplemented, gcerrors.AlreadyExists:
		return true
	}
	return false
}

// writeOptions skips gocloud's content sniffing: objects are opaque.
var writeOptions = &blob.WriterOptions{ContentType: "application/octet-stream"}

// Put writes data under key with a single WriteAll.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := s.b.WriteAll(ctx, s.prefix+key, data, writeOptions); err != nil {
		return s.failed("put", key, err)
	}
	return nil
}

// GetRange reads length bytes at off (length < 0: to the end).
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if off < 0 {
		return nil, objstore.Permanent(fmt.Errorf("blobstore: get %q: negative offset %d", key, off))
	}
	if length < 0 {
		length = -1 // gocloud's "to the end"
	}
	r, err := s.b.NewRangeReader(ctx, s.prefix+key, off, length, nil)
	if err != nil {
		if notFound(err) {
			return nil, objstore.ErrNotFound
		}
		// Some services reject a range that starts at or past the end
		// (HTTP 416), even at offset 0 of an empty object; the contract
		// says that reads nothing. Pay for the extra round-trip only on
		// this error path.
		if attrs, aerr := s.b.Attributes(ctx, s.prefix+key); aerr == nil && off >= attrs.Size {
			return []byte{}, nil
		} else if notFound(aerr) {
			return nil, objstore.ErrNotFound
		}
		return nil, s.failed("get", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		if notFound(err) {
			return nil, objstore.ErrNotFound
		}
		return nil, s.failed("get", key, err)
	}
	// A body shorter than the object holds in the range (a reply cut
	// short with a Content-Length that matches it, which the HTTP client
	// cannot notice) must not pass for the object's bytes: the reader's
	// Size is the whole object's (Content-Range total for S3 and Azure).
	want := r.Size() - off
	if length >= 0 && length < want {
		want = length
	}
	if want > 0 && int64(len(data)) != want {
		return nil, fmt.Errorf("blobstore: get %q: %d bytes at %d, want %d of an object of %d: reply truncated", key, len(data), off, want, r.Size())
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.b.Delete(ctx, s.prefix+key); err != nil && !notFound(err) {
		return s.failed("delete", key, err)
	}
	return nil
}

// List calls fn for each key with prefix in lexical order (gocloud lists
// in that order) until fn returns false.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error {
	it := s.b.List(&blob.ListOptions{Prefix: s.prefix + prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.failed("list", prefix, err)
		}
		if obj.IsDir {
			continue // only with a delimiter, which we never set
		}
		if !fn(strings.TrimPrefix(obj.Key, s.prefix), obj.Size) {
			return nil
		}
	}
}

// Close closes the bucket.
func (s *Store) Close() error { return s.b.Close() }
