package meta

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicedata/sluice/sinks/schemes"
)

// Opener opens a store from a URL whose scheme it was registered for. The
// empty URL is passed to the "bolt" opener. dataDir is the broker's data
// directory, used by backends that keep files when the URL names none.
type Opener func(ctx context.Context, url, dataDir string) (Store, error)

// registry holds the linked backends; the map names the package of each
// scheme Sluice ships with, so that Open can say what to import when one
// is missing.
var registry = schemes.New[Opener]("meta", "metadata store URL", map[string]string{
	"bolt": "github.com/sluicedata/sluice/sinks/meta/boltmeta",
	"file": "github.com/sluicedata/sluice/sinks/meta/boltmeta",
	"mem":  "github.com/sluicedata/sluice/sinks/meta/memmeta",
})

// Register makes a backend available to Open under scheme (without "://").
// Call it from a backend's init function; registering a scheme twice
// panics, since silently picking one backend would hide the mistake.
func Register(scheme string, open Opener) { registry.Register(scheme, open) }

// Open opens the metadata store named by url:
//
//   - "": the bbolt store in dataDir (dataDir/meta.db);
//   - "bolt:///path/to/dir" or "file:///path/to/dir": the bbolt store in
//     that directory;
//   - "mem://": a fresh in-memory store (every Open returns a new one).
//
// Any other scheme is an error naming the URL.
func Open(ctx context.Context, url, dataDir string) (Store, error) {
	scheme := "bolt"
	if url != "" {
		i := strings.Index(url, "://")
		if i < 0 {
			return nil, fmt.Errorf("meta: malformed metadata store URL %q (want bolt:///dir, file:///dir or mem://)", url)
		}
		scheme = url[:i]
	}
	open, err := registry.Lookup(url, scheme)
	if err != nil {
		return nil, err
	}
	return open(ctx, url, dataDir)
}
