//go:build !fuzzing

package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rosterhq/roster/internal/httpapi"
)

// /debug/gc on the admin handler (only there) reports the GC's CPU and
// at least the pause of the collection this test forces.
func TestAdminGCStats(t *testing.T) {
	runtime.GC()
	rec := httptest.NewRecorder()
	httpapi.AdminHandler(prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/gc", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /debug/gc: got %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"/cpu/classes/gc/total:cpu-seconds ", "/cpu/classes/total:cpu-seconds ", "\npause_le "} {
		if !strings.Contains(body, want) {
			t.Errorf("/debug/gc lacks %q:\n%s", want, body)
		}
	}
	h := newHarness(t, sqliteStore(t))
	checkError(t, h.do(request{method: "GET", path: "/debug/gc"}), http.StatusNotFound, "NOT_FOUND")
}
