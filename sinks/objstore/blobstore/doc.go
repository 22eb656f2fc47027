// Package blobstore adapts a gocloud.dev/blob bucket to objstore.Store.
//
// It serves "mem://" (gocloud's memblob) itself. OpenURL is the shared
// opener of the cloud schemes, which live in their own packages so that a
// program links only the SDKs it uses: s3store (s3://), gcsstore (gs://)
// and azurestore (azblob://). OpenURL takes Sluice's own URL parameters
// (prefix=, timeout=, retries=, max_uploads=) out of the URL, opens the
// bucket with the driver, checks it with one listing request, and wraps it
// in objstore.WithRetry (and objstore.LimitPuts).
//
// Durability is the bucket's: for cloud stores a completed write is
// durable; memblob is for tests and development only.
//
// Errors that a retry cannot cure (gocloud codes NotFound,
// PermissionDenied, InvalidArgument, FailedPrecondition, Unimplemented,
// AlreadyExists) are marked objstore.Permanent.
//
// Importing the package registers the "mem" scheme with objstore.Open.
package blobstore
