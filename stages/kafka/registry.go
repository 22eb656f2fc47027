package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// HandlerFunc serves one request. It must call r.Respond exactly once
// (possibly later, from another goroutine), or return an error, which closes
// the connection.
type HandlerFunc func(s *Server, r *Request) error

type handler struct {
	key        int16
	minVersion int16
	maxVersion int16
	fn         HandlerFunc
}

var handlers = map[int16]handler{}

// register adds an API handler; maxVersion -1 means the newest version
// kmsg knows.
func register(key int16, minVersion, maxVersion int16, fn HandlerFunc) {
	if maxVersion < 0 {
		maxVersion = kmsg.RequestForKey(key).MaxVersion()
	}
	handlers[key] = handler{key: key, minVersion: minVersion, maxVersion: maxVersion, fn: fn}
}

// supportedKeys lists the registered API keys in order.
func supportedKeys() []handler {
	out := make([]handler, 0, len(handlers))
	for _, h := range handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
