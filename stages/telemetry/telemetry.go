package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/pipeline"
)

// Exporter names accepted by Config.Traces and Config.Metrics.
const (
	None       = "none"
	OTLP       = "otlp"
	Prometheus = "prometheus"
)

// ScopeName is the instrumentation scope of Sluice's tracers and meters.
const ScopeName = "github.com/sluicedata/sluice"

// Config selects the exporters.
type Config struct {
	// Traces is "none" (or empty) or "otlp".
	Traces string
	// Metrics is "none" (or empty), "prometheus" or "otlp".
	Metrics string
	// TraceSampleRatio is the share of root spans (Kafka requests, and
	// flushes that carry no sampled request) that are sampled, 0 to 1;
	// child spans follow their parent.
	TraceSampleRatio float64
	// SpanExporter, if set, receives every sampled span as it ends,
	// synchronously and in-process, whatever Traces says.
	SpanExporter sdktrace.SpanExporter

	// ServiceName (default "sluice"), ServiceVersion and InstanceID
	// describe the process; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// override them.
	ServiceName    string
	ServiceVersion string
	InstanceID     string
}

// Validate checks the exporter names and the ratio.
func Validate(traces, metrics string, ratio float64) error {
	var errs []error
	switch traces {
	case "", None, OTLP:
	default:
		errs = append(errs, fmt.Errorf("traces %q: want none or otlp", traces))
	}
	switch metrics {
	case "", None, OTLP, Prometheus:
	default:
		errs = append(errs, fmt.Errorf("metrics %q: want none, prometheus or otlp", metrics))
	}
	if !(ratio >= 0 && ratio <= 1) {
		errs = append(errs, fmt.Errorf("trace-sample-ratio %v: want a number from 0 to 1", ratio))
	}
	return errors.Join(errs...)
}

// Telemetry holds the providers. The zero value, and a nil *Telemetry, is
// telemetry off.
type Telemetry struct {
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	tracer  trace.Tracer
	meter   metric.Meter
	handler http.Handler
	stages  *StageObserver
}

// New builds the providers cfg asks for. With everything off it returns a
// Telemetry whose Tracer and Meter are nil.
func New(ctx context.Context, cfg Config) (_ *Telemetry, err error) {
	if err := Validate(cfg.Traces, cfg.Metrics, cfg.TraceSampleRatio); err != nil {
		return nil, err
	}
	t := &Telemetry{}
	tracesOn := cfg.Traces == OTLP || cfg.SpanExporter != nil
	metricsOn := cfg.Metrics == OTLP || cfg.Metrics == Prometheus
	if !tracesOn && !metricsOn {
		return t, nil
	}
	defer func() {
		if err != nil {
			_ = t.Shutdown(context.Background())
		}
	}()
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if tracesOn {
		opts := []sdktrace.TracerProviderOption{
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.TraceSampleRatio))),
		}
		if cfg.Traces == OTLP {
			exp, err := newOTLPSpanExporter(ctx)
			if err != nil {
				return nil, err
			}
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
		if cfg.SpanExporter != nil {
			opts = append(opts, sdktrace.WithSyncer(cfg.SpanExporter))
		}
		t.tp = sdktrace.NewTracerProvider(opts...)
		t.tracer = t.tp.Tracer(ScopeName)
	}
	if metricsOn {
		opts := []sdkmetric.Option{sdkmetric.WithResource(res)}
		switch cfg.Metrics {
		case Prometheus:
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			exp, err := otelprom.New(otelprom.WithRegisterer(reg))
			if err != nil {
				return nil, fmt.Errorf("prometheus exporter: %w", err)
			}
			opts = append(opts, sdkmetric.WithReader(exp))
			t.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		case OTLP:
			exp, err := newOTLPMetricExporter(ctx)
			if err != nil {
				return nil, err
			}
			opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		}
		t.mp = sdkmetric.NewMeterProvider(opts...)
		t.meter = t.mp.Meter(ScopeName)
		if t.stages, err = NewStageObserver(t.meter); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	name := cfg.ServiceName
	if name == "" {
		name = "sluice"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	if cfg.InstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.InstanceID))
	}
	// Later options win: the environment overrides the defaults.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(attrs...), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

// otlpProtocol is the OTLP protocol the environment asks for: the
// signal's own variable, then the general one, then http/protobuf (the
// specification's default).
func otlpProtocol(signal string) (string, error) {
	p := os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL")
	if p == "" {
		p = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch p = strings.TrimSpace(p); p {
	case "", "http/protobuf":
		return "http/protobuf", nil
	case "grpc":
		return p, nil
	default:
		return "", fmt.Errorf("OTLP protocol %q: want grpc or http/protobuf", p)
	}
}

func newOTLPSpanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	proto, err := otlpProtocol("TRACES")
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if proto == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	return exp, nil
}

func newOTLPMetricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	proto, err := otlpProtocol("METRICS")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if proto == "grpc" {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metric exporter: %w", err)
	}
	return exp, nil
}

// Tracer is the tracer the stages use, nil when tracing is off.
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tracer
}

// Meter is the meter the stages use, nil when metrics are off.
func (t *Telemetry) Meter() metric.Meter {
	if t == nil {
		return nil
	}
	return t.meter
}

// StageObserver is the observer that records stage metrics, nil (an
// untyped nil pipeline.Observer) when metrics are off.
func (t *Telemetry) StageObserver() pipeline.Observer {
	if t == nil || t.stages == nil {
		return nil
	}
	return t.stages
}

// MetricsHandler serves /metrics when metrics are "prometheus"; nil
// otherwise.
func (t *Telemetry) MetricsHandler() http.Handler {
	if t == nil {
		return nil
	}
	return t.handler
}

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
