// Package migrations embeds the schema migrations of each database engine,
// in goose's format. sqlc reads the same files as its schema.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Postgres holds the PostgreSQL migrations.
var Postgres = mustSub("postgres")

// SQLite holds the SQLite migrations.
var SQLite = mustSub("sqlite")

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant embedded above
	}
	return sub
}
