//go:build !fuzzing

package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/rosterhq/roster/internal/httpapi"
	"github.com/rosterhq/roster/internal/roster"
)

// forEachStore is forEachEngine with the store at hand, to count rows
// behind the API's back.
func forEachStore(t *testing.T, test func(t *testing.T, h *harness, store roster.UserStore), configure ...func(*httpapi.Config)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			store := e.open(t)
			test(t, newHarness(t, store, configure...), store)
		})
	}
}

func countUsers(t *testing.T, store roster.UserStore) int64 {
	t.Helper()
	n, err := store.CountUsers(context.Background(), roster.UserFilter{})
	if err != nil {
		t.Fatalf("CountUsers: %v", err)
	}
	return n
}

func decodeImport(t *testing.T, rec *httptest.ResponseRecorder) roster.ImportResult {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	var res roster.ImportResult
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("decode import result: %v", err)
	}
	return res
}

// errLines renders errors as "line:field:code" for comparison.
func errLines(res roster.ImportResult) string {
	var parts []string
	for _, e := range res.Errors {
		parts = append(parts, fmt.Sprintf("%d:%s:%s", e.Line, e.Field, e.Code))
	}
	return strings.Join(parts, " ")
}

func (h *harness) importBody(query, contentType, body string, header http.Header) *httptest.ResponseRecorder {
	h.t.Helper()
	return h.do(request{method: "POST", path: "/api/users/import" + query, token: h.admin, body: body, contentType: contentType, header: header})
}

// Malformed rows in each format are reported with their lines, and the
// good rows around them land.
func TestImportFormats(t *testing.T) {
	longLine := `{"name":"` + strings.Repeat("x", 10<<20) + `","email":"long@example.com"}`
	tests := []struct {
		name, contentType, body string
		wantInserted            int64
		wantErrors              string
	}{
		{"ndjson", "application/x-ndjson", "\ufeff" + `{"name":"Ada","email":"ada@example.com"}` + "\r\n" +
			"\r\n" + // blank
			`{"name":"Bad JSON",` + "\n" +
			`{"name":1,"email":"one@example.com"}` + "\n" +
			`{"email":"noname@example.com"}` + "\n" +
			`{"name":"Bob","email":"not-an-email"}` + "\n" +
			`{"name":"Eve","email":"eve@example.com","admin":true}` + "\n" +
			"   \n" +
			`{"name":"Ada Again","email":"ADA@example.com"}` + "\n" +
			`[1,2]` + "\n" +
			`{"name":"Grace","email":"grace@example.com","id":"x","created_at":"y"}`, // no final newline
			2, "3::BAD_REQUEST 4:name:BAD_REQUEST 5:name:VALIDATION_ERROR 6:email:VALIDATION_ERROR 7:admin:BAD_REQUEST 9:email:CONFLICT 10::BAD_REQUEST"},
		{"ndjson 10 MB line", "application/x-ndjson", `{"name":"A","email":"a@example.com"}` + "\n" + longLine + "\n" + `{"name":"B","email":"b@example.com"}` + "\n",
			2, "2::BAD_REQUEST"},
		{"csv", "text/csv", "\ufeffemail,name\r\nada@example.com,Ada\r\n\r\nnot-an-email,Bob\r\n\"grace@example.com\",\"Hopper, Grace\"\r\nx@example.com\r\nada@example.com,Twice\r\n",
			2, "4:email:VALIDATION_ERROR 6::BAD_REQUEST 7:email:CONFLICT"},
		// Past 1 MiB an element or record is a row error, not a buffered
		// 10 MB; the rows after it read as usual, at their own lines.
		{"json array 10 MB element", "application/json", `[{"name":"A","email":"a@example.com"},` + longLine + `, "` + strings.Repeat("s", 2<<20) + `",` +
			`{"name":"B","email":"b@example.com"},{"name":"","email":"c@example.com"}]`,
			2, "2::BAD_REQUEST 3::BAD_REQUEST 5:name:VALIDATION_ERROR"},
		{"csv 10 MB record", "text/csv", "name,email\nA,a@example.com\n\"" + strings.Repeat("x\n", 5<<20) + "\",long@example.com\n" +
			"B,b@example.com\n" + strings.Repeat("y", 2<<20) + ",c@example.com\nBob,not-an-email\n",
			2, "3::BAD_REQUEST 5242885::BAD_REQUEST 5242886:email:VALIDATION_ERROR"},
		{"json array", "application/json", "\ufeff" + `[{"name":"Ada","email":"ada@example.com"},{"name":"","email":"x@example.com"},{"name":"Grace","email":"grace@example.com"},{"name":true}]`,
			2, "2:name:VALIDATION_ERROR 4:name:BAD_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
				res := decodeImport(t, h.importBody("", tt.contentType, tt.body, nil))
				if res.Inserted != tt.wantInserted || errLines(res) != tt.wantErrors {
					t.Errorf("got inserted %d, errors %q; want %d, %q (%+v)", res.Inserted, errLines(res), tt.wantInserted, tt.wantErrors, res.Errors)
				}
				if n := countUsers(t, store); n != tt.wantInserted {
					t.Errorf("got %d users stored, want %d", n, tt.wantInserted)
				}
			})
		})
	}
}

// Every mode and conflict policy, over a file with a new row, one whose
// email exists and an invalid one. Atomic imports with a failed row write
// nothing at all.
func TestImportModesAndPolicies(t *testing.T) {
	body := `{"name":"New","email":"new@example.com"}` + "\n" +
		`{"name":"Renamed","email":"OLD@example.com"}` + "\n" +
		`{"name":"Bad","email":"bad"}` + "\n"
	tests := []struct {
		query                             string
		inserted, updated, skipped, fails int64
		errs                              string
		users                             int64
		oldName                           string
	}{
		{"?mode=partial&on_conflict=fail", 1, 0, 0, 2, "2:email:CONFLICT 3:email:VALIDATION_ERROR", 2, "Old"},
		{"?on_conflict=skip", 1, 0, 1, 1, "3:email:VALIDATION_ERROR", 2, "Old"},
		{"?on_conflict=update", 1, 1, 0, 1, "3:email:VALIDATION_ERROR", 2, "Renamed"},
		{"?mode=atomic&on_conflict=fail", 0, 0, 0, 2, "2:email:CONFLICT 3:email:VALIDATION_ERROR", 1, "Old"},
		{"?mode=atomic&on_conflict=skip", 0, 0, 0, 1, "3:email:VALIDATION_ERROR", 1, "Old"},
		{"?mode=atomic&on_conflict=update", 0, 0, 0, 1, "3:email:VALIDATION_ERROR", 1, "Old"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
				old := h.createUser("Old", "old@example.com")
				res := decodeImport(t, h.importBody(tt.query, "application/x-ndjson", body, nil))
				if res.Inserted != tt.inserted || res.Updated != tt.updated || res.Skipped != tt.skipped || res.Failed != tt.fails || errLines(res) != tt.errs {
					t.Errorf("got %+v, want inserted %d updated %d skipped %d failed %d errors %q",
						res, tt.inserted, tt.updated, tt.skipped, tt.fails, tt.errs)
				}
				if n := countUsers(t, store); n != tt.users {
					t.Errorf("got %d users stored, want %d", n, tt.users)
				}
				got, err := store.User(context.Background(), old.ID)
				if err != nil || got.Name != tt.oldName {
					t.Errorf("existing user: got %+v, %v; want name %q", got, err, tt.oldName)
				}
			})
		})
	}
	t.Run("atomic without failures commits", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
			const n = 2*roster.ImportBatchSize + roster.ImportBatchSize/4 // three batches
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, `{"name":"U%d","email":"u%d@example.com"}`+"\n", i, i)
			}
			res := decodeImport(t, h.importBody("?mode=atomic", "application/x-ndjson", b.String(), nil))
			if res.Inserted != n || res.Failed != 0 || countUsers(t, store) != n {
				t.Errorf("got %+v and %d users, want %d inserted", res, countUsers(t, store), n)
			}
			// The same rows again (skipped), a duplicate of the row before it
			// (failed) and n new ones: the one failure rolls back all.
			fmt.Fprintf(&b, `{"name":"U","email":"u%d@example.com"}`+"\n", n-1)
			for i := range n {
				fmt.Fprintf(&b, `{"name":"V%d","email":"v%d@example.com"}`+"\n", i, i)
			}
			res = decodeImport(t, h.importBody("?mode=atomic&on_conflict=skip", "application/x-ndjson", b.String(), nil))
			if want := fmt.Sprintf("%d:email:CONFLICT", n+1); res.Inserted != 0 || res.Skipped != 0 || res.Failed != 1 || errLines(res) != want || countUsers(t, store) != n {
				t.Errorf("got %+v and %d users, want 1 failure, %s, and the %d users of before", res, countUsers(t, store), want, n)
			}
		})
	})
}

// Compressed bodies, the limits, and requests refused before any row.
func TestImportRequests(t *testing.T) {
	rows := `{"name":"Ada","email":"ada@example.com"}` + "\n"
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(rows))
	_ = zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll([]byte(rows), nil)
	small := func(c *httpapi.Config) { c.ImportMaxBytes = 1000 }
	forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
		for _, tc := range []struct{ coding, body string }{{"gzip", gz.String()}, {"zstd", string(zs)}} {
			res := decodeImport(t, h.importBody("?on_conflict=skip", "application/x-ndjson", tc.body, http.Header{"Content-Encoding": {tc.coding}}))
			if res.Inserted+res.Skipped != 1 || res.Failed != 0 {
				t.Errorf("%s: got %+v, want the row", tc.coding, res)
			}
		}
		checkError(t, h.importBody("", "application/x-ndjson", rows, http.Header{"Content-Encoding": {"br"}}), 415, "UNSUPPORTED_MEDIA_TYPE")
		truncated := gz.String()[:gz.Len()-10]
		checkError(t, h.importBody("", "application/x-ndjson", truncated, http.Header{"Content-Encoding": {"gzip"}}), 400, "BAD_REQUEST")
		checkError(t, h.importBody("", "application/xml", "<users/>", nil), 415, "UNSUPPORTED_MEDIA_TYPE")
		checkError(t, h.importBody("?mode=all", "application/x-ndjson", rows, nil), 400, "BAD_REQUEST")
		checkError(t, h.importBody("?on_conflict=merge&x=1", "application/x-ndjson", rows, nil), 400, "BAD_REQUEST")
		checkError(t, h.importBody("", "text/csv", "nom,email\nA,a@example.com\n", nil), 400, "BAD_REQUEST")
		checkError(t, h.importBody("", "application/json", `{"name":"A"}`, nil), 400, "BAD_REQUEST")
		user := h.token("user-1")
		checkError(t, h.do(request{method: "POST", path: "/api/users/import", token: user, body: rows, contentType: "application/x-ndjson"}), 403, "FORBIDDEN")
		checkError(t, h.do(request{method: "GET", path: "/api/users/export", token: user}), 403, "FORBIDDEN")
		checkError(t, h.do(request{method: "POST", path: "/api/users/import", body: rows, contentType: "application/x-ndjson"}), 401, "UNAUTHORIZED")
	}, small)
	forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
		big := strings.Repeat(rows, 100) // 4 KB
		checkError(t, h.importBody("", "application/x-ndjson", big, nil), 413, "PAYLOAD_TOO_LARGE")
		// Compressed, it is small on the wire but not once decoded.
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write([]byte(big))
		_ = zw.Close()
		checkError(t, h.importBody("?mode=atomic", "application/x-ndjson", gz.String(), http.Header{"Content-Encoding": {"gzip"}}), 413, "PAYLOAD_TOO_LARGE")
		if n := countUsers(t, store); n != 0 {
			t.Errorf("got %d users after refused imports, want 0", n)
		}
	}, small)
}

// An export re-imported with on_conflict=skip changes nothing: every row
// is skipped, no user and no event is added. CSV exports round-trip too.
func TestExportReimport(t *testing.T) {
	forEachStore(t, func(t *testing.T, h *harness, store roster.UserStore) {
		for i := range 30 {
			h.createUser(fmt.Sprintf("User, %d \"q\"", i), fmt.Sprintf("u%d@example.com", i))
		}
		nd := h.do(request{method: "GET", path: "/api/users/export", token: h.admin})
		if nd.Code != 200 || nd.Header().Get("Content-Type") != "application/x-ndjson" || strings.Count(nd.Body.String(), "\n") != 30 {
			t.Fatalf("NDJSON export: got %d %q with %d lines, want 200 and 30 lines", nd.Code, nd.Header().Get("Content-Type"), strings.Count(nd.Body.String(), "\n"))
		}
		first, _, _ := strings.Cut(nd.Body.String(), "\n")
		var u roster.User
		if err := json.Unmarshal([]byte(first), &u); err != nil || u.Email != "u0@example.com" {
			t.Errorf("first line: got %q (%v), want the oldest user u0", first, err)
		}
		csvRec := h.do(request{method: "GET", path: "/api/users/export", token: h.admin, header: http.Header{"Accept": {"text/csv, application/x-ndjson"}}})
		if csvRec.Code != 200 || !strings.HasPrefix(csvRec.Body.String(), csvHeader()) {
			t.Fatalf("CSV export: got %d %.80q", csvRec.Code, csvRec.Body)
		}
		filtered := h.do(request{method: "GET", path: "/api/users/export?q=u1&created_after=2000-01-01T00:00:00Z", token: h.admin})
		if got := strings.Count(filtered.Body.String(), "\n"); got != 11 { // u1, u10–u19
			t.Errorf("filtered export: got %d lines, want 11", got)
		}
		checkError(t, h.do(request{method: "GET", path: "/api/users/export?page=2", token: h.admin}), 400, "BAD_REQUEST")
		events := allEventCount(t, store)
		for _, ex := range []struct{ ct, body string }{{"application/x-ndjson", nd.Body.String()}, {"text/csv", csvRec.Body.String()}} {
			res := decodeImport(t, h.importBody("?on_conflict=skip", ex.ct, ex.body, nil))
			if res.Skipped != 30 || res.Inserted != 0 || res.Failed != 0 {
				t.Errorf("%s re-import: got %+v, want 30 skipped", ex.ct, res)
			}
			res = decodeImport(t, h.importBody("?on_conflict=update", ex.ct, ex.body, nil))
			if res.Skipped != 30 || res.Updated != 0 {
				t.Errorf("%s re-import with update: got %+v, want 30 skipped (unchanged)", ex.ct, res)
			}
		}
		if n := countUsers(t, store); n != 30 {
			t.Errorf("got %d users, want 30", n)
		}
		if n := allEventCount(t, store); n != events {
			t.Errorf("got %d events after re-imports, want %d", n, events)
		}
		again := h.do(request{method: "GET", path: "/api/users/export", token: h.admin})
		if again.Body.String() != nd.Body.String() {
			t.Errorf("export changed after re-import")
		}
	})
}

func allEventCount(t *testing.T, store roster.UserStore) int {
	t.Helper()
	evs, err := store.(roster.EventStore).EventsAfter(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// A client that disconnects mid-import leaves whole committed batches
// (partial) or nothing (atomic), and the summary is logged.
func TestImportClientDisconnect(t *testing.T) {
	for _, mode := range []string{"partial", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			for _, e := range engines {
				t.Run(e.name, func(t *testing.T) {
					store := signalCommits(e.open(t))
					h := newHarness(t, store)
					srv := httptest.NewServer(h.srv)
					defer srv.Close()
					pr, pw := io.Pipe()
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/users/import?mode="+mode, pr)
					req.Header.Set("Authorization", "Bearer "+h.admin)
					req.Header.Set("Content-Type", "application/x-ndjson")
					done := make(chan error, 1)
					go func() {
						resp, err := http.DefaultClient.Do(req)
						if err == nil {
							resp.Body.Close()
						}
						done <- err
					}()
					const batch = roster.ImportBatchSize
					for i := range 2*batch + batch/2 {
						fmt.Fprintf(pw, `{"name":"U%d","email":"u%d@example.com"}`+"\n", i, i)
					}
					if mode == "partial" {
						<-store.commits // the first two batches, committed
						<-store.commits
					}
					cancel()
					_ = pw.CloseWithError(io.ErrClosedPipe)
					<-done
					h.logs.waitFor(`"msg":"import"`) // the handler has returned
					n := countUsers(t, store)
					switch {
					case mode == "atomic" && n != 0:
						t.Errorf("got %d users, want 0", n)
					case mode == "partial" && n != 2*batch:
						t.Errorf("got %d users, want the two whole batches, %d", n, 2*batch)
					}
					evs, _ := store.EventsAfter(context.Background(), 0, 10)
					if mode == "partial" && (len(evs) != 1 || evs[0].Import == nil || evs[0].Import.Inserted != 2*batch) {
						t.Errorf("got events %+v, want one users.imported with %d inserted", evs, 2*batch)
					}
					if mode == "atomic" && len(evs) != 0 {
						t.Errorf("got events %+v, want none", evs)
					}
				})
			}
		})
	}
}

// commitSignals is a store that tells a test when an import transaction
// has committed, so that it waits for that rather than polling against a
// wall-clock deadline a loaded machine can miss.
type commitSignals struct {
	roster.UserStore
	roster.EventStore
	commits chan struct{} // one per committed import transaction
}

func signalCommits(store roster.UserStore) *commitSignals {
	// Tests import a few batches: the buffer never fills.
	return &commitSignals{UserStore: store, EventStore: store.(roster.EventStore), commits: make(chan struct{}, 100)}
}

func (s *commitSignals) BeginImport(ctx context.Context, opts roster.ImportOptions) (roster.ImportTx, error) {
	tx, err := s.UserStore.BeginImport(ctx, opts)
	if err != nil {
		return nil, err
	}
	return signalingTx{ImportTx: tx, commits: s.commits}, nil
}

type signalingTx struct {
	roster.ImportTx
	commits chan<- struct{}
}

func (tx signalingTx) Commit(ctx context.Context, event *roster.ImportSummary) error {
	err := tx.ImportTx.Commit(ctx, event)
	if err == nil {
		tx.commits <- struct{}{}
	}
	return err
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An import is one users.imported event on the feed, with its totals,
// whatever its size; the feed's type filter knows the type.
func TestImportEvent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		srv := httptest.NewServer(h.srv)
		t.Cleanup(srv.Close) // after the stream's own cleanup closes it
		s := openStream(t, srv.URL, h.admin, nil, "?types=users.imported,user.deleted")
		var b strings.Builder
		for i := range 2500 {
			fmt.Fprintf(&b, `{"name":"U%d","email":"u%d@example.com"}`+"\n", i, i)
		}
		decodeImport(t, h.importBody("", "application/x-ndjson", b.String(), nil))
		ev := s.next()
		var d struct {
			Type              string
			Inserted, Updated int64
			At                time.Time
		}
		if err := json.Unmarshal([]byte(ev.data), &d); err != nil || ev.event != "users.imported" || d.Type != ev.event ||
			d.Inserted != 2500 || d.Updated != 0 || d.At.IsZero() {
			t.Errorf("got event %+v (%v), want users.imported with inserted 2500", ev, err)
		}
	})
}

// At most 1,000 errors are listed, in line order; failed counts them all.
func TestImportErrorCap(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		var b strings.Builder
		for i := range 2600 {
			if i%2 == 0 {
				fmt.Fprintf(&b, `{"name":"U%d","email":"u%d@example.com"}`+"\n", i, i%1300)
			} else {
				fmt.Fprintf(&b, `{"name":"","email":"bad%d@example.com"}`+"\n", i)
			}
		}
		res := decodeImport(t, h.importBody("?on_conflict=fail", "application/x-ndjson", b.String(), nil))
		if res.Failed != 1300+650 || len(res.Errors) != 1000 {
			t.Fatalf("got failed %d with %d errors listed, want 1950 and 1000", res.Failed, len(res.Errors))
		}
		for i := 1; i < len(res.Errors); i++ {
			if res.Errors[i].Line <= res.Errors[i-1].Line {
				t.Fatalf("errors out of line order at %d: %d after %d", i, res.Errors[i].Line, res.Errors[i-1].Line)
			}
		}
	})
}

// A store that fails while the client is still sending (or idling) ends
// the import at once: the reading of the body is interrupted, the client
// gets the error, and the handler does not wait for a body that may
// never end.
func TestImportStoreErrorWhileUploading(t *testing.T) {
	h := newHarness(t, failingStore{err: errors.New("database gone")})
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	// Atomic: the store's transaction begins before the first batch is
	// taken, so it fails while the body is still coming.
	req, _ := http.NewRequest("POST", srv.URL+"/api/users/import?mode=atomic", pr)
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/x-ndjson")
	go func() {
		// Some rows, then silence: the pipe stays open until the test ends.
		_, _ = io.WriteString(pw, `{"name":"A","email":"a@example.com"}`+"\n")
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("got status %d, want 500", resp.StatusCode)
	}
}

// csvHeader is the header row of a CSV export: the names of
// roster.UserFields.
func csvHeader() string {
	var names []string
	for _, f := range roster.UserFields {
		names = append(names, f.Name)
	}
	return strings.Join(names, ",") + "\n"
}
