package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// tracingConfig is OpenTelemetry tracing as the standard OTEL_*
// variables configure it. Tracing is on when an OTLP endpoint is set, and
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn it off again.
// Only cmd/roster links the SDK and exporters; the other packages use the
// API, whose no-op default costs nothing.
type tracingConfig struct {
	on       bool
	why      string // why it is off
	protocol string // "grpc" or "http/protobuf"
	endpoint string // the URL spans are sent to
	sampler  string // OTEL_TRACES_SAMPLER's value
	ratio    float64
	service  string
	attrs    []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES and service.*
	trust    bool                 // a caller's traceparent is the parent
}

// tracingFromEnv reads the configuration; an invalid value is a usage
// error, reported before anything starts. service is the service.name
// when the environment names none: "roster" for the server,
// "roster-cli" for the commands that call it.
func tracingFromEnv(getenv func(string) string, service string, trust bool) (tracingConfig, error) {
	c := tracingConfig{trust: trust, service: service, sampler: "parentbased_always_on", ratio: 1}
	base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	endpoint := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	switch {
	case strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true"):
		c.why = "OTEL_SDK_DISABLED=true"
		return c, nil
	case getenv("OTEL_TRACES_EXPORTER") != "" && getenv("OTEL_TRACES_EXPORTER") != "otlp":
		if getenv("OTEL_TRACES_EXPORTER") == "none" {
			c.why = "OTEL_TRACES_EXPORTER=none"
			return c, nil
		}
		return c, usagef("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", getenv("OTEL_TRACES_EXPORTER"))
	case base == "" && endpoint == "":
		c.why = "OTEL_EXPORTER_OTLP_ENDPOINT is not set"
		return c, nil
	}
	c.on = true

	c.protocol = getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if c.protocol == "" {
		c.protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch c.protocol {
	case "", "http", "http/protobuf":
		c.protocol = "http/protobuf" // the specification's default
	case "grpc":
	default:
		return c, usagef("OTEL_EXPORTER_OTLP_PROTOCOL=%q: use grpc or http/protobuf", c.protocol)
	}
	// The signal-specific endpoint is used as it is; the base one gets
	// the traces path over HTTP (OTLP exporter specification).
	if endpoint == "" {
		endpoint = base
		if c.protocol != "grpc" {
			endpoint = strings.TrimSuffix(base, "/") + "/v1/traces"
		}
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, usagef("OTLP endpoint %q: want http://host:port or https://host:port", endpoint)
	}
	c.endpoint = endpoint

	if v := getenv("OTEL_TRACES_SAMPLER"); v != "" {
		c.sampler = v
	}
	switch c.sampler {
	case "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if v := getenv("OTEL_TRACES_SAMPLER_ARG"); v != "" {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 1 {
				return c, usagef("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", v)
			}
			c.ratio = r
		}
	default:
		return c, usagef("OTEL_TRACES_SAMPLER=%q: use always_on, always_off, traceidratio or their parentbased_ forms", c.sampler)
	}

	attrs, err := resourceAttrs(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return c, err
	}
	for _, a := range attrs {
		if a.Key == "service.name" {
			c.service = a.Value.AsString()
		}
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		c.service = v // wins over the resource attribute (specification)
	}
	c.attrs = append(attrs, attribute.String("service.name", c.service), attribute.String("service.version", version))
	return c, nil
}

// resourceAttrs parses OTEL_RESOURCE_ATTRIBUTES: key=value pairs,
// comma-separated, values percent-encoded.
func resourceAttrs(s string) ([]attribute.KeyValue, error) {
	var attrs []attribute.KeyValue
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usagef("OTEL_RESOURCE_ATTRIBUTES: %q is not key=value", pair)
		}
		v, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, usagef("OTEL_RESOURCE_ATTRIBUTES: value of %q: %v", k, err)
		}
		attrs = append(attrs, attribute.String(k, v))
	}
	return attrs, nil
}

func (c tracingConfig) samplerOf() sdktrace.Sampler {
	switch c.sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(c.ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// describe writes the configuration, for --otel.
func (c tracingConfig) describe(w io.Writer) {
	if !c.on {
		fmt.Fprintf(w, "\n  OpenTelemetry tracing: off (%s)\n", c.why)
		return
	}
	sampler := c.sampler
	if strings.HasSuffix(c.sampler, "traceidratio") {
		sampler += " " + strconv.FormatFloat(c.ratio, 'g', -1, 64)
	}
	parent := "trusted (--trust-traceparent)"
	if !c.trust {
		parent = "new trace, linked to the caller's (--no-trust-traceparent)"
	}
	res := make([]string, len(c.attrs))
	for i, a := range c.attrs {
		res[i] = string(a.Key) + "=" + a.Value.String()
	}
	fmt.Fprintf(w, `
  OpenTelemetry tracing: on
    exporter     OTLP %s to %s
    sampler      %s
    resource     %s
    traceparent  %s
`, c.protocol, c.endpoint, sampler, strings.Join(res, ", "), parent)
}

// startTracing makes the tracer provider c describes: nil when tracing is
// off. shutdown flushes the spans still queued; call it once, with a
// context bounding the wait.
func startTracing(ctx context.Context, c tracingConfig) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if !c.on {
		return nil, func(context.Context) error { return nil }, nil
	}
	var client otlptrace.Client
	if c.protocol == "grpc" {
		client = otlptracegrpc.NewClient(otlptracegrpc.WithEndpointURL(c.endpoint))
	} else {
		client = otlptracehttp.NewClient(otlptracehttp.WithEndpointURL(c.endpoint))
	}
	// New only sets the exporter up: a backend that is down costs the
	// spans it would have received, not the start.
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, nil, fmt.Errorf("otlp exporter: %w", err)
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(c.samplerOf()),
		sdktrace.WithResource(resource.NewSchemaless(c.attrs...)),
	)
	return sdk, func(ctx context.Context) error {
		if err := sdk.Shutdown(ctx); err != nil {
			return fmt.Errorf("tracing shutdown: %w", err)
		}
		return nil
	}, nil
}
