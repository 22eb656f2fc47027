package bench

import (
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// OTLPSink is an OTLP/HTTP trace receiver (protobuf, POST /v1/traces) in
// the benchmark process: a broker in another process exports its spans to
// it as it would to a real collector, and it feeds them to a
// SpanCollector for the breakdown.
type OTLPSink struct {
	srv       *http.Server
	ln        net.Listener
	collector *SpanCollector

	// Requests, Spans and Bytes count what was received (bytes as sent,
	// before any gzip decoding).
	Requests, Spans, Bytes atomic.Int64
}

// StartOTLPSink listens on a loopback port.
func StartOTLPSink() (*OTLPSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &OTLPSink{ln: ln, collector: NewSpanCollector()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.traces)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// URL is the traces endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
func (s *OTLPSink) URL() string { return "http://" + s.ln.Addr().String() + "/v1/traces" }

// Collector gets every span received (while it is started).
func (s *OTLPSink) Collector() *SpanCollector { return s.collector }

// Close stops the receiver.
func (s *OTLPSink) Close() error { return s.srv.Close() }

func (s *OTLPSink) traces(w http.ResponseWriter, r *http.Request) {
	cr := &countingReader{r: r.Body}
	var body io.Reader = cr
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(cr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, fmt.Sprintf("decoding OTLP traces: %v", err), http.StatusBadRequest)
		return
	}
	s.Requests.Add(1)
	s.Bytes.Add(cr.n)
	var n int64
	c := s.collector
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				n++
				if c.on {
					c.add(sp.GetName(), time.Unix(0, int64(sp.GetStartTimeUnixNano())), time.Unix(0, int64(sp.GetEndTimeUnixNano())), timingAttrs(sp.GetAttributes()))
				}
			}
		}
	}
	c.mu.Unlock()
	s.Spans.Add(n)
	resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(resp)
}

// timingAttrs converts the OTLP attributes the breakdown reads.
func timingAttrs(kvs []*commonpb.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for _, kv := range kvs {
		if kv.GetKey() != queueWaitAttr && kv.GetKey() != workAttr {
			continue
		}
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_DoubleValue:
			out = append(out, attribute.Float64(kv.GetKey(), v.DoubleValue))
		case *commonpb.AnyValue_IntValue:
			out = append(out, attribute.Int64(kv.GetKey(), v.IntValue))
		}
	}
	return out
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
