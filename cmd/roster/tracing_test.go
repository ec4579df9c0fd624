package main

import (
	"errors"
	"strings"
	"testing"
)

func TestTracingFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		want    string // in the --otel description
		wantErr string // in the usage error
	}{
		{"off by default", nil, "tracing: off (OTEL_EXPORTER_OTLP_ENDPOINT is not set)", ""},
		{"disabled", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "true"}, "off (OTEL_SDK_DISABLED=true)", ""},
		{"exporter none", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_EXPORTER", "none"}, "off (OTEL_TRACES_EXPORTER=none)", ""},
		{"http by default, with the traces path", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/"},
			"OTLP http/protobuf to http://c:4318/v1/traces", ""},
		{"grpc as given", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
			"OTLP grpc to http://c:4317", ""},
		{"signal endpoint as given", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/otlp/traces"},
			"to https://c/otlp/traces", ""},
		{"ratio sampler", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG", "0.01"},
			"sampler      parentbased_traceidratio 0.01", ""},
		{"default sampler", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, "sampler      parentbased_always_on", ""},
		{"service name default", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}, "service.name=roster,", ""},
		{"service name from resource", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_RESOURCE_ATTRIBUTES", "service.name=users,team=a%20b"},
			"team=a b, service.name=users", ""},
		{"OTEL_SERVICE_NAME wins", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_RESOURCE_ATTRIBUTES", "service.name=users", "OTEL_SERVICE_NAME", "dir"},
			"service.name=dir,", ""},
		{"bad protocol", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}, "", "use grpc or http/protobuf"},
		{"bad endpoint", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "c:4318"}, "", "want http://host:port"},
		{"bad sampler", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "sometimes"}, "", "OTEL_TRACES_SAMPLER"},
		{"bad ratio", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", "2"}, "", "from 0 to 1"},
		{"bad resource", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_RESOURCE_ATTRIBUTES", "novalue"}, "", "not key=value"},
		{"bad exporter", []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_TRACES_EXPORTER", "zipkin"}, "", "only otlp and none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := env(tt.env...)
			c, err := tracingFromEnv(func(k string) string { v, _ := lookup(k); return v }, "roster", true)
			if tt.wantErr != "" {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want a usage error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			var b strings.Builder
			c.describe(&b)
			if !strings.Contains(b.String(), tt.want) {
				t.Errorf("got description %q, want it to contain %q", b.String(), tt.want)
			}
		})
	}
	// The commands that call a server name themselves apart from it.
	c, err := tracingFromEnv(func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}[k] }, "roster-cli", true)
	if err != nil || c.service != "roster-cli" {
		t.Errorf("CLI default: got service %q, error %v; want roster-cli", c.service, err)
	}
}
