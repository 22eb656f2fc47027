// Package testservers starts object store servers on 127.0.0.1 for tests:
// S3 (gofakes3 with its memory backend) and GCS (fake-gcs-server) in
// process, and Azure Blob (Azurite, a Node program) as a child process.
// Each Start function points the environment at its server with
// t.Setenv (so it cannot be used from parallel tests) and stops the
// server when the test ends; URL returns the store URL to give
// objstore.Open or the broker's Config.Objects. StartFaultProxy puts a
// fault-injecting HTTP proxy (errors, latency, lost replies, truncated
// reads) in front of an S3 server.
//
// Azurite is the npm package azurite, installed by `make objstore-deps`
// into testdata/azurite/node_modules here. StartAzurite fails the test,
// saying how to install it, when it cannot find it; it never skips.
package testservers
