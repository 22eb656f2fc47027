package testservers

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// names numbers the buckets of every server in this process, so that a
// name is never reused.
var names atomic.Int64

func newName() string { return fmt.Sprintf("sluice-test-%d", names.Add(1)) }

// storeURL builds scheme://bucket?fixed&extra, extra being "k=v" pairs.
func storeURL(scheme, bucket string, fixed url.Values, extra []string) string {
	q := url.Values{}
	for k, v := range fixed {
		q[k] = v
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		q.Set(k, v)
	}
	u := scheme + "://" + bucket
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// isolateEnv clears the variables that would point a client at a real
// cloud account or make it look for one.
func isolateEnv(tb testing.TB, vars ...string) {
	tb.Helper()
	for _, v := range vars {
		tb.Setenv(v, "")
	}
}
