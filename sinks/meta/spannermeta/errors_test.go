package spannermeta

import (
	"errors"
	"fmt"
	"testing"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/sinks/meta"
)

// TestErrorClasses checks how the store classifies the client library's
// answers: a missing row is only spanner.ErrRowNotFound (not a dropped
// session or transaction, which are NotFound too), and the answers a
// retry may not meet are marked meta.ErrUnavailable while the store's own
// refusals keep their meaning.
func TestErrorClasses(t *testing.T) {
	grpcErr := func(c codes.Code, msg string) error { return spanner.ToSpannerError(status.Error(c, msg)) }
	for _, tc := range []struct {
		name                string
		err                 error
		notFound, transient bool
		emulator            bool
	}{
		// The emulator tests read missing rows for real; this is the
		// error ReadRow builds for one.
		{name: "row missing", err: spanner.ToSpannerError(spanner.ErrRowNotFound), notFound: true},
		{name: "session dropped", err: grpcErr(codes.NotFound, "Session not found: projects/p/instances/i/databases/d/sessions/s"), transient: true},
		{name: "emulator forgot txn", err: grpcErr(codes.NotFound, "Transaction not found: 757"), transient: true, emulator: true},
		{name: "emulator txn id", err: grpcErr(codes.FailedPrecondition, "Invalid transaction ID. Transaction ID must be >= 753"), transient: true, emulator: true},
		{name: "unavailable", err: grpcErr(codes.Unavailable, "connection refused"), transient: true},
		{name: "deadline", err: grpcErr(codes.DeadlineExceeded, "context deadline exceeded"), transient: true},
		{name: "aborted", err: grpcErr(codes.Aborted, "transaction aborted"), transient: true},
		{name: "database missing", err: grpcErr(codes.NotFound, "Database not found: projects/p/instances/i/databases/d")},
		{name: "schema precondition", err: grpcErr(codes.FailedPrecondition, "Table not found: Topics")},
		{name: "own error", err: spanner.ToSpannerError(fmt.Errorf("%w: too big", ErrCommitTooLarge))},
		{name: "object expired", err: spanner.ToSpannerError(meta.ErrObjectExpired)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isNotFound(tc.err); got != tc.notFound {
				t.Errorf("isNotFound = %v", got)
			}
			if got := isTransient(tc.err); got != tc.transient {
				t.Errorf("isTransient = %v", got)
			}
			if got := isEmulatorTxnError(tc.err); got != tc.emulator {
				t.Errorf("isEmulatorTxnError = %v", got)
			}
			if got := errors.Is(unwrap(tc.err), meta.ErrUnavailable); got != tc.transient {
				t.Errorf("unwrap marked unavailable = %v: %v", got, unwrap(tc.err))
			}
			if !errors.Is(unwrap(tc.err), tc.err) {
				t.Errorf("unwrap lost the cause: %v", unwrap(tc.err))
			}
		})
	}
	// unwrap keeps the sentinel a transaction function returned.
	if got := unwrap(spanner.ToSpannerError(fmt.Errorf("x: %w", meta.ErrConflict))); got != meta.ErrConflict {
		t.Errorf("unwrap(conflict) = %v", got)
	}
}
