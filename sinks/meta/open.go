package meta

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Opener opens a store from a URL whose scheme it was registered for. The
// empty URL is passed to the "bolt" opener. dataDir is the broker's data
// directory, used by backends that keep files when the URL names none.
type Opener func(ctx context.Context, url, dataDir string) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// knownBackends maps the schemes Sluice ships with to the package that
// implements them, so that Open can say what to import when one is missing.
var knownBackends = map[string]string{
	"bolt": "github.com/sluicedata/sluice/sinks/meta/boltmeta",
	"file": "github.com/sluicedata/sluice/sinks/meta/boltmeta",
	"mem":  "github.com/sluicedata/sluice/sinks/meta/memmeta",
}

// Register makes a backend available to Open under scheme (without "://").
// Call it from a backend's init function; registering a scheme twice
// panics, since silently picking one backend would hide the mistake.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("meta: Register with nil opener for scheme " + scheme)
	}
	if _, dup := registry[scheme]; dup {
		panic("meta: scheme registered twice: " + scheme)
	}
	registry[scheme] = open
}

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
	registryMu.RLock()
	open, ok := registry[scheme]
	registryMu.RUnlock()
	if !ok {
		if pkg, known := knownBackends[scheme]; known {
			return nil, fmt.Errorf("meta: metadata store URL %q: backend for %s:// not linked into this program (import _ %q)", url, scheme, pkg)
		}
		return nil, fmt.Errorf("meta: unsupported metadata store URL %q (supported schemes: %s)", url, supportedSchemes())
	}
	return open(ctx, url, dataDir)
}

func supportedSchemes() string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	seen := map[string]bool{}
	for s := range registry {
		seen[s] = true
	}
	for s := range knownBackends {
		seen[s] = true
	}
	var out []string
	for s := range seen {
		out = append(out, s+"://")
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
