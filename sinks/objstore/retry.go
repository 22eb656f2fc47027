package objstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds the retries of WithRetry and Retry.
type RetryPolicy struct {
	// Attempts is the most tries of one call, the first included. Less
	// than 1 means 1: no retry.
	Attempts int
	// BaseDelay is the wait before the first retry; each later wait
	// doubles, up to MaxDelay. Each wait is jittered to between half and
	// all of its value so that many callers failing together do not retry
	// in step.
	BaseDelay, MaxDelay time.Duration
	// Timeout bounds each attempt of Put, GetRange and Delete (0: no
	// bound but the caller's context). For List, which is several
	// requests, it bounds the wait for each key instead, so that a long
	// listing is not cut short while every page comes in time. An attempt
	// that times out is transient: it is retried.
	Timeout time.Duration
	// Retryable reports whether an attempt's error may go away if the call
	// is tried again. Nil means IsTransient.
	Retryable func(error) bool
}

// DefaultRetryPolicy is what the cloud backends use unless their URL says
// otherwise: 4 attempts, 100 ms doubling to at most 2 s between them
// (about 0.7 s of waiting in all), 30 s per attempt.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, Timeout: 30 * time.Second}
}

// permanentError marks an error that a retry cannot cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot cure (a missing bucket,
// refused credentials, a malformed request), so that WithRetry returns it
// at once. errors.Is and errors.As see through the mark. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether err is marked Permanent or is ErrNotFound.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, ErrNotFound)
}

// IsTransient is the default RetryPolicy.Retryable: every error except
// the permanent ones (see IsPermanent) and a cancelled context. Unknown
// errors (a reset connection, a 5xx, a timeout) count as transient: a
// bounded number of needless retries costs little, a missed retry fails
// a produce.
func IsTransient(err error) bool {
	return err != nil && !IsPermanent(err) && !errors.Is(err, context.Canceled)
}

// errAttemptTimeout is the cause of a context that RetryPolicy.Timeout
// ended.
var errAttemptTimeout = errors.New("objstore: attempt timed out")

// delay returns the jittered wait before retry number n (1-based).
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func (p RetryPolicy) retryable(err error) bool {
	if p.Retryable != nil {
		return p.Retryable(err)
	}
	return IsTransient(err)
}

// Retry calls op until it succeeds, fails with an error that p does not
// retry, has been tried p.Attempts times, or ctx ends. Each call gets a
// context bounded by p.Timeout. It returns op's last error, wrapped with
// the number of attempts when there was more than one.
func Retry(ctx context.Context, p RetryPolicy, op func(ctx context.Context) error) error {
	attempts := max(p.Attempts, 1)
	for n := 1; ; n++ {
		err, timedOut := attempt(ctx, p.Timeout, op)
		if err == nil {
			return nil
		}
		if timedOut {
			err = fmt.Errorf("%w after %v: %w", errAttemptTimeout, p.Timeout, err)
		}
		if ctx.Err() != nil || (!timedOut && !p.retryable(err)) {
			return wrapAttempts(err, n)
		}
		if n >= attempts {
			return wrapAttempts(err, n)
		}
		if werr := sleep(ctx, p.delay(n)); werr != nil {
			return wrapAttempts(err, n)
		}
	}
}

func attempt(ctx context.Context, timeout time.Duration, op func(ctx context.Context) error) (err error, timedOut bool) {
	if timeout <= 0 {
		return op(ctx), false
	}
	actx, cancel := context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
	defer cancel()
	err = op(actx)
	return err, err != nil && ctx.Err() == nil && context.Cause(actx) == errAttemptTimeout
}

func wrapAttempts(err error, n int) error {
	if n == 1 {
		return err
	}
	return fmt.Errorf("%w (gave up after %d attempts)", err, n)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WithRetry wraps s so that each call is retried on transient errors as p
// says, each attempt bounded by p.Timeout.
//
// Retrying a Put is safe, and hides no failure: Sluice never writes a key
// twice with different bytes (keys are unique and objects immutable), so a
// Put is idempotent, and a retry after an attempt whose outcome is unknown
// (a timeout, a reset connection after the body was sent) writes the same
// object again at worst. WithRetry returns nil only when an attempt
// returned nil, i.e. when the backend said the object is durable; when
// every attempt fails it returns the last error.
//
// A List that fails part-way is resumed after the last key it delivered,
// so fn never sees a key twice; attempts that delivered keys do not count
// against p.Attempts, since they made progress.
//
// ErrNotFound and errors marked Permanent are returned at once.
func WithRetry(s Store, p RetryPolicy) Store {
	return &retryStore{s: s, p: p}
}

type retryStore struct {
	s Store
	p RetryPolicy
}

// Unwrap returns the wrapped store.
func (r *retryStore) Unwrap() Store { return r.s }

func (r *retryStore) Put(ctx context.Context, key string, data []byte) error {
	return Retry(ctx, r.p, func(ctx context.Context) error { return r.s.Put(ctx, key, data) })
}

func (r *retryStore) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	var out []byte
	err := Retry(ctx, r.p, func(ctx context.Context) error {
		b, err := r.s.GetRange(ctx, key, off, length)
		out = b
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return Retry(ctx, r.p, func(ctx context.Context) error { return r.s.Delete(ctx, key) })
}

func (r *retryStore) List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error {
	var (
		last      string
		delivered bool // fn has been called: skip keys <= last
		stopped   bool // fn returned false
	)
	attempts := max(r.p.Attempts, 1)
	failures := 0
	for {
		progress := false
		actx, cancel := context.WithCancelCause(ctx)
		var timer *time.Timer
		if r.p.Timeout > 0 {
			timer = time.AfterFunc(r.p.Timeout, func() { cancel(errAttemptTimeout) })
		}
		err := r.s.List(actx, prefix, func(key string, size int64) bool {
			if delivered && key <= last {
				return true
			}
			if timer != nil {
				timer.Stop() // the caller's time is not the store's
			}
			last, delivered, progress = key, true, true
			if !fn(key, size) {
				stopped = true
				return false
			}
			if timer != nil {
				timer.Reset(r.p.Timeout)
			}
			return true
		})
		timedOut := err != nil && ctx.Err() == nil && context.Cause(actx) == errAttemptTimeout
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
		if err == nil || stopped {
			return nil
		}
		if timedOut {
			err = fmt.Errorf("%w (no key for %v): %w", errAttemptTimeout, r.p.Timeout, err)
		}
		if progress {
			failures = 0
		}
		failures++
		if ctx.Err() != nil || (!timedOut && !r.p.retryable(err)) || failures >= attempts {
			return wrapAttempts(err, failures)
		}
		if werr := sleep(ctx, r.p.delay(failures)); werr != nil {
			return wrapAttempts(err, failures)
		}
	}
}

func (r *retryStore) Close() error { return r.s.Close() }

var _ Store = (*retryStore)(nil)
