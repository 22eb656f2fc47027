package kafka

// Request telemetry: a span per request (kafka.<ApiName>, from the frame
// being read to Respond) when a tracer is configured and the request is
// sampled, and, when a meter is configured, sluice.kafka.requests,
// sluice.kafka.request.errors (requests whose answer carries an error
// code, by API and error) and sluice.kafka.request.duration, by API; plus
// sluice.consumer.lag, the high watermark minus the fetch offset summed
// over a fetch's partitions, per topic. With neither configured, a request
// costs one nil check.

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/stages/fetch"
)

type telemetry struct {
	tracer trace.Tracer // nil: no spans
	meter  bool

	requests, errors metric.Int64Counter
	duration         metric.Float64Histogram
	lag              metric.Int64Gauge

	keys   map[int16]*keyTelemetry // read-only once built
	errs   sync.Map                // errKey -> []metric.AddOption
	topics sync.Map                // topic name -> []metric.RecordOption
}

type keyTelemetry struct {
	name     string
	spanName string
	attr     attribute.KeyValue
	add      []metric.AddOption
	record   []metric.RecordOption
}

type errKey struct {
	key  int16
	code int16
}

var durationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// newTelemetry returns nil when both tracer and meter are nil.
func newTelemetry(tracer trace.Tracer, meter metric.Meter) (*telemetry, error) {
	if tracer == nil && meter == nil {
		return nil, nil
	}
	t := &telemetry{tracer: tracer, meter: meter != nil, keys: map[int16]*keyTelemetry{}}
	for key := range handlers {
		name := kmsg.NameForKey(key)
		attr := attribute.String("api", name)
		set := attribute.NewSet(attr)
		t.keys[key] = &keyTelemetry{
			name: name, spanName: "kafka." + name, attr: attr,
			add:    []metric.AddOption{metric.WithAttributeSet(set)},
			record: []metric.RecordOption{metric.WithAttributeSet(set)},
		}
	}
	if meter == nil {
		return t, nil
	}
	var err error
	if t.requests, err = meter.Int64Counter("sluice.kafka.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Kafka requests answered, by API.")); err != nil {
		return nil, err
	}
	if t.errors, err = meter.Int64Counter("sluice.kafka.request.errors", metric.WithUnit("{request}"),
		metric.WithDescription("Kafka requests whose answer carried an error code (the first found), by API and error.")); err != nil {
		return nil, err
	}
	if t.duration, err = meter.Float64Histogram("sluice.kafka.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from reading a Kafka request to its answer being ready, by API."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if t.lag, err = meter.Int64Gauge("sluice.consumer.lag", metric.WithUnit("{record}"),
		metric.WithDescription("High watermark minus fetch offset, summed over the partitions of the topic in the last fetch that read it.")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) key(k int16) *keyTelemetry {
	if kt := t.keys[k]; kt != nil {
		return kt
	}
	name := kmsg.NameForKey(k)
	attr := attribute.String("api", name)
	set := attribute.NewSet(attr)
	return &keyTelemetry{name: name, spanName: "kafka." + name, attr: attr,
		add: []metric.AddOption{metric.WithAttributeSet(set)}, record: []metric.RecordOption{metric.WithAttributeSet(set)}}
}

// begin starts a request's telemetry, before its handler runs.
func (t *telemetry) begin(r *Request) {
	r.tel = t
	r.start = time.Now()
	if t.tracer == nil {
		return
	}
	kt := t.key(r.Header.APIKey)
	ctx, span := t.tracer.Start(r.Ctx, kt.spanName, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(r.start))
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		kt.attr,
		attribute.Int("kafka.api_key", int(r.Header.APIKey)),
		attribute.Int("kafka.api_version", int(r.Header.APIVersion)),
		attribute.Int("kafka.correlation_id", int(r.Header.CorrelationID)),
		attribute.String("kafka.client_id", r.ClientID()),
	)
	r.Span, r.Ctx = span, ctx
}

// end finishes it: from Respond, or with the handler's error.
func (t *telemetry) end(r *Request, resp kmsg.Response, herr error) {
	code := int16(0)
	if resp != nil && (t.meter || r.Span != nil) {
		code = responseErrorCode(resp)
	}
	if t.meter {
		ctx := context.Background()
		kt := t.key(r.Header.APIKey)
		t.requests.Add(ctx, 1, kt.add...)
		t.duration.Record(ctx, time.Since(r.start).Seconds(), kt.record...)
		if code != 0 || herr != nil {
			t.errors.Add(ctx, 1, t.errOpts(kt, r.Header.APIKey, code, herr != nil)...)
		}
	}
	if r.Span != nil {
		if code != 0 {
			r.Span.SetAttributes(attribute.Int("kafka.error_code", int(code)))
			r.Span.SetStatus(codes.Error, errorName(code))
		}
		if herr != nil {
			r.Span.SetStatus(codes.Error, herr.Error())
		}
		r.Span.End()
	}
}

func (t *telemetry) errOpts(kt *keyTelemetry, key, code int16, handlerErr bool) []metric.AddOption {
	if handlerErr {
		code = -32768 // the connection was closed instead of answering
	}
	ek := errKey{key, code}
	if v, ok := t.errs.Load(ek); ok {
		return v.([]metric.AddOption)
	}
	name := "CONNECTION_CLOSED"
	if !handlerErr {
		name = errorName(code)
	}
	opts := []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kt.attr, attribute.String("error", name)))}
	v, _ := t.errs.LoadOrStore(ek, opts)
	return v.([]metric.AddOption)
}

func errorName(code int16) string {
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return "UNKNOWN_SERVER_ERROR"
}

// spanContext is the request's span context, zero when not traced.
func (r *Request) spanContext() trace.SpanContext {
	if r.Span == nil {
		return trace.SpanContext{}
	}
	return r.Span.SpanContext()
}

// recordLag records the lag a fetch saw: per topic, the sum over the
// fetch's partitions of the topic of high watermark minus fetch offset.
func (t *telemetry) recordLag(parts []*fetchPart, results []fetch.Result) {
	if t == nil || !t.meter {
		return
	}
	var lags map[string]int64
	for i, p := range parts {
		res := &results[i]
		if p.err != 0 || res.Err != nil || p.topic == "" {
			continue
		}
		if lags == nil {
			lags = make(map[string]int64, 1)
		}
		lags[p.topic] += max(res.State.HighWatermark-p.offset, 0)
	}
	for topic, lag := range lags {
		t.topicLag(topic, lag)
	}
}

func (t *telemetry) topicLag(topic string, lag int64) {
	if topic == "" {
		return
	}
	var opts []metric.RecordOption
	if v, ok := t.topics.Load(topic); ok {
		opts = v.([]metric.RecordOption)
	} else {
		opts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("topic", topic)))}
		v, _ := t.topics.LoadOrStore(topic, opts)
		opts = v.([]metric.RecordOption)
	}
	t.lag.Record(context.Background(), lag, opts...)
}

// responseErrorCode is the first error code an answer carries: the
// top-level one, or, for the data-path APIs, the first partition's.
func responseErrorCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					return c
				}
			}
		}
		return 0
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			return r.ErrorCode
		}
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					return c
				}
			}
		}
		return 0
	case *kmsg.MetadataResponse:
		for i := range r.Topics {
			if c := r.Topics[i].ErrorCode; c != 0 {
				return c
			}
		}
		return 0
	case *kmsg.ListOffsetsResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				if c := r.Topics[i].Partitions[j].ErrorCode; c != 0 {
					return c
				}
			}
		}
		return 0
	case *kmsg.CreateTopicsResponse:
		for i := range r.Topics {
			if c := r.Topics[i].ErrorCode; c != 0 {
				return c
			}
		}
		return 0
	case *kmsg.DeleteTopicsResponse:
		for i := range r.Topics {
			if c := r.Topics[i].ErrorCode; c != 0 {
				return c
			}
		}
		return 0
	}
	// Most other answers have a top-level ErrorCode.
	v := reflect.ValueOf(resp)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if f := v.Elem().FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 {
			return int16(f.Int())
		}
	}
	return 0
}
