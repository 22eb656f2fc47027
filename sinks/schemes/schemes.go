package schemes

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Registry maps URL schemes to openers of type O.
type Registry[O any] struct {
	pkg   string            // the owning package, prefixing panics and errors
	what  string            // what the URL names, for errors ("store URL")
	known map[string]string // schemes Sluice ships with -> implementing package

	mu      sync.RWMutex
	openers map[string]O
}

// New returns an empty registry. known maps the schemes Sluice ships with
// to the package implementing each, for the "not linked" error.
func New[O any](pkg, what string, known map[string]string) *Registry[O] {
	return &Registry[O]{pkg: pkg, what: what, known: known, openers: map[string]O{}}
}

// Register makes open available under scheme (without "://"). It panics
// on a nil opener or a scheme registered twice: both are programming
// errors that would otherwise silently pick one backend or none.
func (r *Registry[O]) Register(scheme string, open O) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v := reflect.ValueOf(&open).Elem(); v.IsZero() {
		panic(r.pkg + ": Register with nil opener for scheme " + scheme)
	}
	if _, dup := r.openers[scheme]; dup {
		panic(r.pkg + ": scheme registered twice: " + scheme)
	}
	r.openers[scheme] = open
}

// Lookup returns the opener of scheme, or an error naming url: what to
// import if scheme is one Sluice ships with, else the supported schemes.
func (r *Registry[O]) Lookup(url, scheme string) (O, error) {
	r.mu.RLock()
	open, ok := r.openers[scheme]
	r.mu.RUnlock()
	if ok {
		return open, nil
	}
	if pkg, known := r.known[scheme]; known {
		return open, fmt.Errorf("%s: %s %q: backend for %s:// not linked into this program (import _ %q)", r.pkg, r.what, url, scheme, pkg)
	}
	return open, fmt.Errorf("%s: unsupported %s %q (supported schemes: %s)", r.pkg, r.what, url, r.supported())
}

// supported lists the registered and shipped schemes.
func (r *Registry[O]) supported() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	seen := map[string]bool{}
	for s := range r.openers {
		seen[s] = true
	}
	for s := range r.known {
		seen[s] = true
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s+"://")
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
