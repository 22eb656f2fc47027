package objstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicedata/sluice/sinks/schemes"
)

// Opener opens a store from a URL whose scheme it was registered for.
// Bare paths are passed to the "file" opener unchanged.
type Opener func(ctx context.Context, url string) (Store, error)

// registry holds the linked backends; the map names the package of each
// scheme Sluice ships with, so that Open can say what to import when one
// is missing.
var registry = schemes.New[Opener]("objstore", "store URL", map[string]string{
	"file":   "github.com/sluicedata/sluice/sinks/objstore/filestore",
	"mem":    "github.com/sluicedata/sluice/sinks/objstore/blobstore",
	"s3":     "github.com/sluicedata/sluice/sinks/objstore/s3store",
	"gs":     "github.com/sluicedata/sluice/sinks/objstore/gcsstore",
	"azblob": "github.com/sluicedata/sluice/sinks/objstore/azurestore",
})

// Register makes a backend available to Open under scheme (without "://").
// It is meant to be called from a backend package's init function; it
// panics if the scheme is registered twice, since that is a programming
// error that would otherwise silently pick one backend.
func Register(scheme string, open Opener) { registry.Register(scheme, open) }

// Open opens the store named by url:
//
//   - "file:///abs/dir" or a bare path ("/abs/dir", "rel/dir"): a local
//     directory (filestore), created if missing;
//   - "mem://": a fresh, empty in-memory store (blobstore over memblob);
//     every Open returns a different one;
//   - "s3://bucket?region=…&endpoint=…&use_path_style=true&prefix=…"
//     (s3store), "gs://bucket?prefix=…" (gcsstore) and
//     "azblob://container?prefix=…" (azurestore): cloud buckets through
//     gocloud.dev/blob, with retries, a per-request timeout and an
//     optional key prefix; see blobstore.OpenURL for the parameters they
//     share.
//
// Any other scheme is an error naming the URL.
func Open(ctx context.Context, url string) (Store, error) {
	if url == "" {
		return nil, fmt.Errorf("objstore: empty store URL")
	}
	scheme := "file" // a bare path
	if i := strings.Index(url, "://"); i >= 0 {
		scheme = url[:i]
	} else if strings.HasPrefix(url, "file:") {
		return nil, fmt.Errorf("objstore: malformed store URL %q (want file:///abs/dir)", url)
	}
	open, err := registry.Lookup(url, scheme)
	if err != nil {
		return nil, err
	}
	return open(ctx, url)
}
