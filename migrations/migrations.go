// Package migrations holds the numbered SQL migrations of the state store.
// Each file is applied once, in order, in its own transaction, and recorded
// in the schema_migrations table. A landed file is never edited; changes
// come as a new file.
package migrations

import "embed"

// FS holds the *.sql files.
//
//go:embed *.sql
var FS embed.FS
