package admin_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rosterhq/roster/internal/admin"
)

// /debug/gc reports the GC's CPU and at least the pause of the collection
// this test forces. (httpapi's TestAdminEndpointsArePrivate checks that
// the public handler does not serve it.)
func TestGCStats(t *testing.T) {
	runtime.GC()
	rec := httptest.NewRecorder()
	admin.Handler(prometheus.NewRegistry()).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/gc", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /debug/gc: got %d, want 200", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{"/cpu/classes/gc/total:cpu-seconds ", "/cpu/classes/total:cpu-seconds ", "\npause_le "} {
		if !strings.Contains(body, want) {
			t.Errorf("/debug/gc lacks %q:\n%s", want, body)
		}
	}
}
