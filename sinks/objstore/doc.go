// Package objstore defines the object store Sluice keeps record data in
// (Store) and opens one from a URL (Open).
//
// Backends live in subpackages so that this package stays dependency-free:
//
//   - filestore: a local directory ("file:///abs/dir" or a bare path), the
//     default. It fsyncs every object and its directory entry before Put
//     returns, because a produce is acknowledged only once its bytes are
//     durable.
//   - blobstore: an adapter over gocloud.dev/blob, used for "mem://" now
//     and for s3://, gs:// and azblob:// later.
//
// The backends import this package (for Store and ErrNotFound), so Open
// cannot import them without an import cycle. Instead each backend
// registers its URL schemes in an init function (as database/sql drivers
// do) and Open dispatches on the scheme. A program that calls Open must
// therefore link the backends it wants, e.g.
//
//	import _ "github.com/sluicedata/sluice/sinks/objstore/filestore"
//	import _ "github.com/sluicedata/sluice/sinks/objstore/blobstore"
//
// Open names the package to import when a known scheme has no backend
// linked.
//
// The conformance suite every backend must pass is in objstoretest.
package objstore
