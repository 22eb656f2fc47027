package broker

import (
	"encoding/json"
	"net/http"
)

// StatsPath is the admin endpoint serving Stats as JSON (the Go field
// names as keys), so that a process outside the broker, such as the
// benchmark harness driving a `sluice serve` child, can read the same
// counters Broker.Stats gives in process. Counters only: no request is
// traced or measured for it.
const StatsPath = "/debug/stats"

func (b *Broker) handleStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(b.Stats())
}
