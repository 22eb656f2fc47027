// Package gcsstore registers the "gs" scheme with objstore.Open: Google
// Cloud Storage through gocloud.dev/blob's gcsblob driver.
//
//	gs://bucket?prefix=cluster-a
//
// Credentials are Google's Application Default Credentials:
// GOOGLE_APPLICATION_CREDENTIALS naming a key file, gcloud's user
// credentials, or the metadata server on GCE/GKE. The driver's own
// parameters (anonymous, access_id, universe_domain, grpc, …) are passed
// through; see gocloud.dev/blob/gcsblob.URLOpener.
//
// For an emulator (fake-gcs-server and the like) either set
// STORAGE_EMULATOR_HOST=host:port, which the Go GCS client honours (plain
// HTTP, no credentials), or pass endpoint=http://host:port in the URL,
// which does the same for this one store without touching the process
// environment:
//
//	gs://bucket?endpoint=http://127.0.0.1:4443&prefix=cluster-a
//
// On top of those, blobstore.OpenURL handles prefix=, timeout=, retries=
// and max_uploads=, and checks the bucket at Open with one listing
// request.
package gcsstore
