package api_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocs checks that docs/openapi.yaml and docs/edge-api.md describe exactly
// the routes the server serves.
func TestDocs(t *testing.T) {
	buf, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(buf, &spec); err != nil {
		t.Fatal(err)
	} else if spec.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", spec.OpenAPI)
	}
	markdown, err := os.ReadFile("../../docs/edge-api.md")
	if err != nil {
		t.Fatal(err)
	}

	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{"GET /healthz": true}
	for _, rt := range routes {
		served[rt.method+" "+patternOf(rt.path)] = true
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.yaml", r)
		}
		if !strings.Contains(string(markdown), "### "+r) {
			t.Errorf("%s is served but has no section in edge-api.md", r)
		}
	}
	s := MustOpenServer(t)
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in openapi.yaml but not in the route table", r)
		}
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{name}", "weather", "{version}", "1", "{id}", "main").Replace(path)
		if rec := s.Do(t, method, path, ServiceToken, nil); rec.Code == http.StatusMethodNotAllowed || strings.Contains(rec.Body.String(), "no such route") {
			t.Errorf("%s is documented but not served: %d %s", r, rec.Code, rec.Body)
		}
	}
}

// patternOf turns a concrete route path from the route table back into its
// documented pattern.
func patternOf(path string) string {
	parts := strings.Split(path, "/")
	for i := range parts {
		if i > 0 {
			switch parts[i-1] {
			case "skills":
				parts[i] = "{name}"
			case "keys", "machines":
				parts[i] = "{id}"
			case "versions":
				parts[i] = "{version}"
			}
		}
	}
	return strings.Join(parts, "/")
}
