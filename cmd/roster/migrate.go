package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pressly/goose/v3"
)

// migrateCmd is "roster migrate up|down|status".
type migrateCmd struct {
	Action string  `arg:"" enum:"up,down,status" help:"up applies every pending migration, down rolls back the newest one, status lists each migration and whether it is applied."`
	DB     dbFlags `embed:""`
}

// Help is the detail of "roster migrate --help".
func (*migrateCmd) Help() string {
	return "On PostgreSQL an advisory lock keeps concurrent runs (several instances starting) apart."
}

func (*migrateCmd) wantArgs() string { return "want one of up, down, status" }

func (m *migrateCmd) run(ctx context.Context, _ *flagSources, env environment) error {
	action, d := m.Action, &m.DB
	d.oneShot()
	engine, path, err := d.engine()
	if err != nil {
		return err
	}
	// Only up may create a database: status or down on a mistyped path
	// would otherwise leave an empty file there and report it unmigrated.
	if engine == "sqlite" && action != "up" {
		file, _, _ := strings.Cut(path, "?")
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) { // #nosec G703 -- the operator names the database on the command line
			return fmt.Errorf("no database at %s: nothing is migrated there yet (roster migrate up creates it)", file)
		}
	}
	db, err := openDatabase(ctx, d)
	if err != nil {
		return err
	}
	defer db.close()

	switch action {
	case "up":
		res, err := migrateUp(ctx, db)
		if err != nil {
			return err
		}
		for _, r := range res {
			fmt.Fprintf(env.stdout, "applied %05d %s (%s)\n", r.Source.Version, r.Source.Path, r.Duration.Round(time.Millisecond))
		}
		if len(res) == 0 {
			fmt.Fprintln(env.stdout, "no pending migrations")
		}
	case "down":
		r, err := db.migrator.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(env.stdout, "nothing to roll back")
			return nil
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		fmt.Fprintf(env.stdout, "rolled back %05d %s (%s)\n", r.Source.Version, r.Source.Path, r.Duration.Round(time.Millisecond))
	case "status":
		st, err := db.migrator.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return tw.Flush()
	}
	return nil
}
