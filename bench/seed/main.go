// Command seed fills a migrated roster database, SQLite or PostgreSQL, with
// users for bench/run. It runs each store's own sqlc-generated insert (the
// statement the server runs, so it stays in step with the schema) in large
// transactions, which is many times faster than one create request at a
// time; the change events the server records with each create are left
// out. Ids are UUIDv7 whose time is the user's created_at; created_at is
// spread evenly over the year before now, oldest first; emails are unique
// and lower-case. A sample of the ids is written one per line for the load
// scripts.
//
//	seed -db /tmp/roster.db -n 100000 -ids ids.txt -sample 10000
//	seed -db postgres://… -n 100000 -ids ids.txt
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/postgres/pgdb"
	"github.com/rosterhq/roster/internal/roster"
	"github.com/rosterhq/roster/internal/sqlite/sqlitedb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// batch is the number of users per transaction.
const batch = 5000

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	target := fs.String("db", "", "a migrated database: SQLite file path or postgres:// URL")
	n := fs.Int("n", 100_000, "users to create")
	idsPath := fs.String("ids", "", "write a sample of the ids here, one per line")
	sample := fs.Int("sample", 10_000, "ids to write to -ids")
	span := fs.Duration("span", 365*24*time.Hour, "created_at runs from now-span to now")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" || *n < 1 || *sample < 1 {
		return errors.New("need -db, and -n and -sample of at least 1")
	}

	start := time.Now()
	users := make([]roster.User, *n)
	now := start.UTC().Truncate(time.Microsecond)
	step := *span / time.Duration(*n)
	for i := range users {
		at := now.Add(-time.Duration(*n-1-i) * step)
		users[i] = roster.User{
			ID:        v7At(at),
			Name:      fmt.Sprintf("Bench User %06d", i),
			Email:     fmt.Sprintf("user%d@bench.example", i),
			CreatedAt: at,
			UpdatedAt: at,
		}
	}
	var err error
	if strings.HasPrefix(*target, "postgres://") || strings.HasPrefix(*target, "postgresql://") {
		err = seedPostgres(ctx, *target, users)
	} else {
		err = seedSQLite(ctx, strings.TrimPrefix(*target, "sqlite:"), users)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: %d users in %s\n", *n, time.Since(start).Round(time.Millisecond))
	if *idsPath == "" {
		return nil
	}
	every := max(*n / *sample, 1)
	var ids []uuid.UUID
	for i := 0; i < len(users) && len(ids) < *sample; i += every {
		ids = append(ids, users[i].ID)
	}
	return writeIDs(*idsPath, ids)
}

// seedPostgres inserts the users in batches over a few connections.
func seedPostgres(ctx context.Context, dsn string, users []roster.User) error {
	const workers = 8
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			if errs[w] = seedPostgresPart(ctx, dsn, users, w, workers); errs[w] != nil {
				cancel() // the other workers stop at their next statement
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// seedPostgresPart inserts every workers-th batch, starting with batch w,
// over its own connection.
func seedPostgresPart(ctx context.Context, dsn string, users []roster.User, w, workers int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for lo := w * batch; lo < len(users); lo += workers * batch {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			q := pgdb.New(tx)
			for _, u := range users[lo:min(lo+batch, len(users))] {
				err := q.CreateUser(ctx, pgdb.CreateUserParams{
					ID:        u.ID,
					Name:      u.Name,
					NameLower: strings.ToLower(u.Name),
					Email:     u.Email,
					CreatedAt: u.CreatedAt,
					UpdatedAt: u.UpdatedAt,
				})
				if err != nil {
					return fmt.Errorf("user %s: %w", u.Email, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// seedSQLite inserts the users in batches through one connection, as
// SQLite has one writer.
func seedSQLite(ctx context.Context, path string, users []roster.User) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(OFF)") // a benchmark database: speed over durability
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for lo := 0; lo < len(users); lo += batch {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		qs := sqlitedb.New(tx)
		for _, u := range users[lo:min(lo+batch, len(users))] {
			err := qs.CreateUser(ctx, sqlitedb.CreateUserParams{
				ID:        u.ID.String(),
				Name:      u.Name,
				NameLower: strings.ToLower(u.Name),
				Email:     u.Email,
				CreatedAt: u.CreatedAt.UnixMicro(),
				UpdatedAt: u.UpdatedAt.UnixMicro(),
			})
			if err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("user %s: %w", u.Email, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// v7At returns a UUIDv7 (RFC 9562) whose timestamp is t: 48 bits of Unix
// milliseconds, the version, the variant and random bits.
func v7At(t time.Time) uuid.UUID {
	var u uuid.UUID
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails on supported platforms
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(u[:6], ms[2:])
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u
}

func writeIDs(path string, ids []uuid.UUID) error {
	f, err := os.Create(path) // #nosec G304 -- the operator names the output file
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, id := range ids {
		fmt.Fprintln(w, id)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close() // the flush error is the one to report
		return err
	}
	return f.Close()
}
