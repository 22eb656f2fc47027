package broker

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// /readyz answers 200 only while both stores answer: a broker that cannot
// reach one of them takes produces it cannot acknowledge and fetches it
// cannot serve, so a load balancer should send clients elsewhere. Each
// store gets one cheap call, both at once, bounded by readyTimeout: the
// metadata store its ClusterID (Spanner: a stale read), the object store a
// read of the cluster marker, which also catches a store that lost it.
// The answer is kept for readyCacheFor, so that a probe storm costs the
// stores at most one pair of calls a second; probes arriving while a
// check runs wait for its answer. /healthz stays liveness: it touches no
// store.
const (
	readyTimeout  = 2 * time.Second
	readyCacheFor = time.Second
)

// readiness caches the last store check.
type readiness struct {
	mu  sync.Mutex
	at  time.Time // when err was found; zero: never checked
	err error
}

// storesReady checks both stores, or returns the answer of a check made
// less than readyCacheFor ago.
func (b *Broker) storesReady() error {
	r := &b.readiness
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheFor {
		return r.err
	}
	// Not the request's context: the answer is shared with other probes,
	// and one client hanging up must not make it a failure.
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var metaErr, objErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := b.meta.ClusterID(ctx); err != nil {
			metaErr = fmt.Errorf("metadata store %s: %w", metaName(b.cfg), err)
		}
	}()
	if err := b.checkMarker(ctx, b.clusterID); err != nil {
		objErr = fmt.Errorf("object store %s: %w", objectsName(b.cfg), err)
	}
	wg.Wait()
	r.err = nil
	switch {
	case metaErr != nil && objErr != nil:
		r.err = fmt.Errorf("%w\n%w", metaErr, objErr)
	case metaErr != nil:
		r.err = metaErr
	case objErr != nil:
		r.err = objErr
	}
	r.at = time.Now()
	return r.err
}

func (b *Broker) handleReady(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-b.closed:
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	default:
	}
	if err := b.storesReady(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}
