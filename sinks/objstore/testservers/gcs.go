package testservers

import (
	"net/url"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// GCS is an in-process GCS server: fake-gcs-server over plain HTTP on
// 127.0.0.1.
type GCS struct {
	// Endpoint is the server's base URL, http://127.0.0.1:port.
	Endpoint string
	// Host is 127.0.0.1:port, the value of STORAGE_EMULATOR_HOST.
	Host string
	srv  *fakestorage.Server
}

// StartGCS starts a GCS server for the test and sets
// STORAGE_EMULATOR_HOST to it, which the Go GCS client honours (no
// credentials, plain HTTP).
func StartGCS(tb testing.TB) *GCS {
	tb.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Host:       "127.0.0.1",
		Scheme:     "http",
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		tb.Fatalf("testservers: start fake-gcs-server: %v", err)
	}
	tb.Cleanup(srv.Stop)
	u, err := url.Parse(srv.URL())
	if err != nil {
		tb.Fatalf("testservers: fake-gcs-server URL %q: %v", srv.URL(), err)
	}
	tb.Setenv("STORAGE_EMULATOR_HOST", u.Host)
	isolateEnv(tb, "STORAGE_EMULATOR_HOST_GRPC")
	return &GCS{Endpoint: srv.URL(), Host: u.Host, srv: srv}
}

// NewBucket creates an empty bucket with a fresh name and returns the
// name.
func (g *GCS) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := newName()
	g.srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

// URL returns the store URL of bucket on this server, with extra "k=v"
// parameters added: gs://bucket, which reaches the server through
// STORAGE_EMULATOR_HOST. Pass "endpoint="+g.Endpoint to name the server
// in the URL instead.
func (g *GCS) URL(bucket string, extra ...string) string {
	return storeURL("gs", bucket, nil, extra)
}
