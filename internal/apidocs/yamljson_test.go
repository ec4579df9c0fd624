package apidocs

import (
	"strings"
	"testing"
)

func TestYAMLToJSON(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"keys keep their order", "b: 1\na: 2\nc: 3", `{"b":1,"a":2,"c":3}`},
		{"number and bool keys are strings", "200: ok\ntrue: yes\n1.5: x", `{"200":"ok","true":"yes","1.5":"x"}`},
		{"scalars", "i: -7\nf: 2.5\nb: false\nn: null\ne: ~\ns: '42'", `{"i":-7,"f":2.5,"b":false,"n":null,"e":null,"s":"42"}`},
		{"timestamps stay as written", "t: 2025-11-26T09:58:00Z\nd: 2025-11-26", `{"t":"2025-11-26T09:58:00Z","d":"2025-11-26"}`},
		{"sequences", "- a\n- [1, 2]\n- {k: v}", `["a",[1,2],{"k":"v"}]`},
		{"aliases are expanded", "a: &x {k: v}\nb: *x", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"no HTML escaping", "s: '<a href=\"x\">&</a>'", `{"s":"<a href=\"x\">&</a>"}`},
		{"block text", "d: |\n  line 1\n  line 2\n", `{"d":"line 1\nline 2\n"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("yamlToJSON: %v", err)
			}
			if compact := strings.Join(strings.Fields(string(got)), ""); compact != strings.Join(strings.Fields(tt.want), "") {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestYAMLToJSONErrors(t *testing.T) {
	for name, src := range map[string]string{
		"duplicate key":  "a: 1\na: 2",
		"merge key":      "a: &x {k: v}\nb:\n  <<: *x",
		"composite key":  "? [a, b]\n: v",
		"syntax error":   "a: [1, 2",
		"two documents":  "a: 1\n---\nb: 2",
		"not a number":   "a: .nan",
		"custom tag":     "a: !thing x",
		"empty document": "",
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := yamlToJSON([]byte(src)); err == nil {
				t.Errorf("got %s, want an error", got)
			}
		})
	}
}
