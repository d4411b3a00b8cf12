package sqlite

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// PendingMigrations returns the embedded migrations not yet recorded in the
// database, in order, without writing anything: a LiteFS replica polls it
// until the primary's migrations have reached it.
func (db *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	if db.db == nil {
		return nil, fmt.Errorf("sqlite: pending migrations: database not open")
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list migrations: %w", err)
	}
	sort.Strings(names)
	applied := make(map[string]bool)
	rows, err := db.db.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return names, nil
		}
		return nil, fmt.Errorf("sqlite: read applied migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("sqlite: scan migration: %w", err)
		}
		applied[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read applied migrations: %w", err)
	}
	var pending []string
	for _, name := range names {
		if !applied[name] {
			pending = append(pending, name)
		}
	}
	return pending, nil
}
