package testservers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The credentials StartS3 puts in the environment, and the only access
// key its server accepts (it does not check signatures).
const (
	S3AccessKey = "sluice-test-access-key"
	S3SecretKey = "sluice-test-secret-key"
	S3Region    = "us-east-1"
)

// S3 is an in-process S3 server: gofakes3 over its memory backend behind
// httptest on 127.0.0.1.
type S3 struct {
	// Endpoint is the server's base URL, http://127.0.0.1:port.
	Endpoint string
	backend  *s3mem.Backend
}

// StartS3 starts an S3 server for the test and sets AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY to S3AccessKey and S3SecretKey (and keeps the AWS
// SDK away from ~/.aws and the instance metadata service). Requests whose
// access key is not S3AccessKey get 403 InvalidAccessKeyId, as from S3.
func StartS3(tb testing.TB) *S3 {
	tb.Helper()
	be := s3mem.New()
	faker := gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(checkAccessKey(faker.Server()))
	tb.Cleanup(srv.Close)
	isolateEnv(tb, "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	none := filepath.Join(tb.TempDir(), "none")
	tb.Setenv("AWS_CONFIG_FILE", none)
	tb.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	tb.Setenv("AWS_ACCESS_KEY_ID", S3AccessKey)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", S3SecretKey)
	tb.Setenv("AWS_REGION", S3Region)
	return &S3{Endpoint: srv.URL, backend: be}
}

// checkAccessKey refuses a request signed with another access key than
// S3AccessKey, the way S3 does.
func checkAccessKey(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "Credential="+S3AccessKey+"/") {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
				`<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// NewBucket creates an empty bucket with a fresh name and returns the
// name.
func (s *S3) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := newName()
	if err := s.backend.CreateBucket(name); err != nil {
		tb.Fatalf("testservers: create S3 bucket %s: %v", name, err)
	}
	return name
}

// URL returns the store URL of bucket on this server, with extra "k=v"
// parameters (e.g. "prefix=cluster-a") added:
// s3://bucket?endpoint=http://127.0.0.1:port&region=us-east-1&use_path_style=true.
func (s *S3) URL(bucket string, extra ...string) string {
	return storeURL("s3", bucket, url.Values{
		"region":         {S3Region},
		"endpoint":       {s.Endpoint},
		"use_path_style": {"true"},
	}, extra)
}
