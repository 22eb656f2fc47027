// Package objstore defines the object store Sluice keeps record data in
// (Store) and opens one from a URL (Open).
//
// Backends live in subpackages so that this package stays dependency-free:
//
//   - filestore: a local directory ("file:///abs/dir" or a bare path), the
//     default. It fsyncs every object and its directory entry before Put
//     returns, because a produce is acknowledged only once its bytes are
//     durable.
//   - blobstore: an adapter over gocloud.dev/blob, used for "mem://" and,
//     through blobstore.OpenURL, by the cloud backends:
//   - s3store ("s3://bucket?region=…&endpoint=…&use_path_style=true"),
//     gcsstore ("gs://bucket") and azurestore ("azblob://container"):
//     Amazon S3 and S3-compatible stores, Google Cloud Storage and Azure
//     Blob Storage. Credentials come from each cloud's usual environment,
//     never from the URL. They all take prefix= (keys under prefix/, so
//     that clusters can share a bucket), timeout= (per request), retries=
//     and max_uploads=, and check the bucket with one listing request at
//     Open, so that a missing bucket or refused credentials is one clear
//     error there.
//
// WithRetry retries transient failures with bounded, jittered exponential
// backoff and a per-attempt timeout (a Put is idempotent: keys are unique
// and objects immutable); LimitPuts caps concurrent uploads. Errors that a
// retry cannot cure are ErrNotFound and those marked Permanent.
//
// For tests: objstoretest is the conformance suite, faulty injects
// failures and latency, and testservers starts S3, GCS and Azure servers
// on 127.0.0.1.
//
// The backends import this package (for Store and ErrNotFound), so Open
// cannot import them without an import cycle. Instead each backend
// registers its URL schemes in an init function (as database/sql drivers
// do) and Open dispatches on the scheme. A program that calls Open must
// therefore link the backends it wants, e.g.
//
//	import _ "github.com/sluicedata/sluice/sinks/objstore/filestore"
//	import _ "github.com/sluicedata/sluice/sinks/objstore/blobstore"
//	import _ "github.com/sluicedata/sluice/sinks/objstore/s3store"
//
// Open names the package to import when a known scheme has no backend
// linked.
//
// The conformance suite every backend must pass is in objstoretest.
package objstore
