package testservers

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultRates says how often the fault proxy misbehaves, per request.
type FaultRates struct {
	Error      float64       // answer 500 InternalError or 503 SlowDown without forwarding
	LostReply  float64       // forward a PUT or DELETE, then answer 500: the client cannot tell it from a failed write
	Latency    float64       // add a delay of up to MaxLatency before forwarding
	MaxLatency time.Duration // upper bound of an added delay
	CutGet     float64       // object GET: send the headers and half the body, then drop the connection
	ShortGet   float64       // object GET: send half the body with a Content-Length that matches it (framing intact)
}

// The kinds of injected fault, in summary order.
const (
	FaultErr500 = iota
	FaultErr503
	FaultLostReply
	FaultLatency
	FaultCutGet
	FaultShortGet
	NumFaultKinds
)

var FaultKindNames = [NumFaultKinds]string{"500", "503", "lost-reply", "latency", "cut-get", "short-get"}

// FaultProxy is an HTTP server on 127.0.0.1 in front of an S3 server (such
// as StartS3's: give URL(bucket, "endpoint="+proxy.URL) to a store or a
// broker process) that injects S3 failures: errors, latency, replies
// lost after the write was done, and truncated object reads, both the
// kind the HTTP client notices (connection dropped before Content-Length
// bytes) and the kind it cannot (a shorter body with a matching
// Content-Length, the Content-Range still naming the range asked for).
// Faults are on only between Enable and Disable. The random choices come
// from one seeded source, so the mix (not its interleaving with the
// clients) repeats for a seed.
type FaultProxy struct {
	URL   string // http://127.0.0.1:port, the endpoint to give the clients
	rates FaultRates
	on    atomic.Bool
	rp    *httputil.ReverseProxy

	mu  sync.Mutex
	rng *rand.Rand

	requests atomic.Int64
	deletes  atomic.Int64 // DELETE requests, faulty or not (the vacuum's)
	faults   [NumFaultKinds]atomic.Int64
}

func StartFaultProxy(t testing.TB, target string, rates FaultRates, seed uint64) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{rates: rates, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = nil
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// The client went away (a killed broker) or the server is closing.
		w.WriteHeader(http.StatusBadGateway)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *FaultProxy) Enable()  { p.on.Store(true) }
func (p *FaultProxy) Disable() { p.on.Store(false) }

// roll reports whether an event of probability prob happens.
func (p *FaultProxy) roll(prob float64) bool {
	if prob <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < prob
}

func (p *FaultProxy) upTo(d time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.rng.Int64N(int64(d) + 1))
}

// Summary is "kind=count ..." of the injected faults.
func (p *FaultProxy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d deletes=%d", p.requests.Load(), p.deletes.Load())
	for k, name := range FaultKindNames {
		fmt.Fprintf(&b, " %s=%d", name, p.faults[k].Load())
	}
	return b.String()
}

// Count is how many faults of kind were injected.
func (p *FaultProxy) Count(kind int) int64 { return p.faults[kind].Load() }

// objectGet reports whether r reads an object (GET /bucket/key), not a
// listing (GET /bucket?list-type=2) or a bucket.
func objectGet(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	_, key, ok := strings.Cut(path, "/")
	return ok && key != "" && !r.URL.Query().Has("list-type") && !r.URL.Query().Has("uploads")
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodDelete {
		p.deletes.Add(1)
	}
	if !p.on.Load() {
		p.rp.ServeHTTP(w, r)
		return
	}
	rates := p.rates
	if rates.MaxLatency > 0 && p.roll(rates.Latency) {
		p.faults[FaultLatency].Add(1)
		select {
		case <-time.After(p.upTo(rates.MaxLatency)):
		case <-r.Context().Done():
			return
		}
	}
	if p.roll(rates.Error) {
		if p.roll(0.5) {
			p.faults[FaultErr500].Add(1)
			s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		} else {
			p.faults[FaultErr503].Add(1)
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		}
		return
	}
	switch {
	case (r.Method == http.MethodPut || r.Method == http.MethodDelete) && p.roll(rates.LostReply):
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		p.faults[FaultLostReply].Add(1)
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case objectGet(r) && (rates.CutGet > 0 || rates.ShortGet > 0):
		cut, short := p.roll(rates.CutGet), p.roll(rates.ShortGet)
		if !cut && !short {
			break
		}
		rec := httptest.NewRecorder()
		p.rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if (rec.Code != http.StatusOK && rec.Code != http.StatusPartialContent) || len(body) < 2 {
			copyResponse(w, rec.Result().Header, rec.Code, body)
			return
		}
		half := body[:len(body)/2]
		h := rec.Result().Header
		if cut {
			p.faults[FaultCutGet].Add(1)
			h.Set("Content-Length", strconv.Itoa(len(body)))
			copyResponse(w, h, rec.Code, half)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			panic(http.ErrAbortHandler) // drops the connection mid-body
		}
		p.faults[FaultShortGet].Add(1)
		h.Set("Content-Length", strconv.Itoa(len(half)))
		copyResponse(w, h, rec.Code, half)
		return
	}
	p.rp.ServeHTTP(w, r)
}

func copyResponse(w http.ResponseWriter, h http.Header, code int, body []byte) {
	for k, vs := range h {
		w.Header()[k] = vs
	}
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}
