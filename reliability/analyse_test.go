//go:build reliability

package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"
)

// committed is what the database holds, read from the change feed's
// outbox: the store writes an event in the transaction of every change,
// so an event is proof that the write committed.
type committed struct {
	createdEmails map[string]bool // lower-cased
	updatedNames  map[string]bool
	deletedIDs    map[string]bool
	userIDs       map[string]bool // the users table now
	eventIDs      []int64         // ascending
}

// On PostgreSQL a write's event goes to event_outbox in its transaction
// and a feed reader moves it into events later: a committed write's event
// is in one of the two (outbox rows get id 0: not yet in the feed).
const eventsSQLPostgres = `SELECT id, type, user_id::text, coalesce(data->>'name', ''), coalesce(data->>'email', '') FROM events
UNION ALL SELECT 0, type, user_id::text, coalesce(data->>'name', ''), coalesce(data->>'email', '') FROM event_outbox
ORDER BY 1`
const eventsSQLite = `SELECT id, type, user_id, coalesce(json_extract(data, '$.name'), ''), coalesce(json_extract(data, '$.email'), '') FROM events ORDER BY id`

func newCommitted() *committed {
	return &committed{createdEmails: map[string]bool{}, updatedNames: map[string]bool{}, deletedIDs: map[string]bool{}, userIDs: map[string]bool{}}
}

func (c *committed) event(id int64, typ, userID, name, email string) {
	if id > 0 {
		c.eventIDs = append(c.eventIDs, id)
	}
	switch typ {
	case "user.created":
		c.createdEmails[strings.ToLower(email)] = true
	case "user.updated":
		c.updatedNames[name] = true
	case "user.deleted":
		c.deletedIDs[userID] = true
	}
}

func readPostgres(t *testing.T, url string) *committed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("analyser: %v", err)
	}
	defer conn.Close(ctx)
	c := newCommitted()
	rows, _ := conn.Query(ctx, eventsSQLPostgres)
	var (
		id                        int64
		typ, uid, name, email, ui string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &typ, &uid, &name, &email}, func() error {
		c.event(id, typ, uid, name, email)
		return nil
	})
	if err != nil {
		t.Fatalf("analyser: events: %v", err)
	}
	rows, _ = conn.Query(ctx, `SELECT id::text FROM users`)
	if _, err := pgx.ForEachRow(rows, []any{&ui}, func() error { c.userIDs[ui] = true; return nil }); err != nil {
		t.Fatalf("analyser: users: %v", err)
	}
	return c
}

// openSQLite opens a database file read-only for the analyser.
func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readSQLite(t *testing.T, path string) *committed {
	t.Helper()
	db := openSQLite(t, path)
	c := newCommitted()
	rows, err := db.Query(eventsSQLite)
	if err != nil {
		t.Fatalf("analyser: events: %v", err)
	}
	for rows.Next() {
		var (
			id                    int64
			typ, uid, name, email string
		)
		if err := rows.Scan(&id, &typ, &uid, &name, &email); err != nil {
			t.Fatal(err)
		}
		c.event(id, typ, uid, name, email)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	rows, err = db.Query(`SELECT id FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		c.userIDs[id] = true
	}
	return c
}

// integrity runs PRAGMA integrity_check on a SQLite file.
func integrity(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res []string
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		res = append(res, s)
	}
	return strings.Join(res, "; ")
}

// verdict is the ledger held against the database.
type verdict struct {
	requests, writes, acked int
	byStatus                map[int]int
	lost                    []string // acknowledged writes the database does not hold
	failedLanded            []string // answered 4xx/5xx, committed anyway
	refused                 int      // could not connect: never reached the server
	ambiguous               int      // no answer on a connection (transport error)
	ambiguousLanded         int      // … of which committed
}

func (c *committed) landed(e entry) bool {
	switch e.Op {
	case "create":
		return c.createdEmails[strings.ToLower(e.ID)+"@rel.test"]
	case "update":
		return c.updatedNames[e.ID]
	case "delete":
		return c.deletedIDs[e.Target]
	}
	return false
}

func analyse(entries []entry, c *committed) verdict {
	v := verdict{byStatus: map[int]int{}}
	deleted := map[string]bool{}
	for _, e := range entries {
		if e.Op == "delete" && e.acked() {
			deleted[e.Target] = true
		}
	}
	for _, e := range entries {
		v.requests++
		v.byStatus[e.Status]++
		if !e.isWrite() {
			continue
		}
		v.writes++
		landed := c.landed(e)
		switch {
		case e.acked():
			v.acked++
			if !landed {
				v.lost = append(v.lost, e.ID)
			} else if e.Op == "create" && !deleted[e.UserID] && !c.userIDs[e.UserID] {
				v.lost = append(v.lost, e.ID+" (row missing)")
			}
		case e.Status == 0 && e.Dial:
			v.refused++
			if landed {
				v.failedLanded = append(v.failedLanded, e.ID+" "+e.Op+" → refused connection")
			}
		case e.Status == 0:
			v.ambiguous++
			if landed {
				v.ambiguousLanded++
			}
		case e.failed() && landed:
			v.failedLanded = append(v.failedLanded, fmt.Sprintf("%s %s → %d %s", e.ID, e.Op, e.Status, e.Code))
		}
	}
	return v
}

// check fails the test on a lost or failed-but-landed write.
func (v verdict) check(t *testing.T, l *ledger) {
	t.Helper()
	if len(v.lost) > 0 {
		t.Errorf("%d acknowledged writes missing from the database (ledger %s), first: %v", len(v.lost), l.path, first(v.lost, 5))
	}
	if len(v.failedLanded) > 0 {
		t.Errorf("%d writes answered 4xx/5xx committed anyway (ledger %s), first: %v", len(v.failedLanded), l.path, first(v.failedLanded, 5))
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func (v verdict) statuses() string {
	keys := make([]int, 0, len(v.byStatus))
	for k := range v.byStatus {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		name := fmt.Sprint(k)
		if k == 0 {
			name = "no answer"
		}
		fmt.Fprintf(&b, "%s: %d", name, v.byStatus[k])
	}
	return b.String()
}

// percentile of latencies in ms (nearest rank); NaN for none.
func percentile(ms []float64, p float64) float64 {
	if len(ms) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func latencies(entries []entry, keep func(entry) bool) []float64 {
	var ms []float64
	for _, e := range entries {
		if keep(e) {
			ms = append(ms, e.LatMS)
		}
	}
	return ms
}
