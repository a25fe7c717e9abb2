// Package vectors is apron's SQLite database: one file (state.db) holds the
// materialised state, staff accounts and sessions, the rebooking proposals
// and staff's commands with the booking engine's read transaction, the
// outbox, and the search
// index with its sqlite-vec vectors and FTS5 full text. It is named for
// the index, but it owns all of SQLite: no other package opens the file.
// It decides nothing: the rules are in app, and
// every method here stores, reads or applies what app decided, in one
// transaction where a change and the log position it came from belong
// together.
//
// The files group by part of the database:
//
//   - store.go: Store, opening (sqlite-vec registered, WAL, busy timeout,
//     one writer connection and a pool of readers), migrations from
//     migrations/, consumer positions and commitWithPosition, checksums.
//   - state.go, query.go: the state the materialiser applies from the log
//     (flights, bookings, passengers, documents) and the queries on it.
//   - auth.go: users, sessions and API tokens.
//   - proposals.go: proposals, the booking engine's read transaction
//     (DecideExecution, seat counts) and the outbox the proposer publishes;
//     proposal_log.go: proposals, commands, outcomes and seat holds as the
//     control topic's projection, fenced by epoch and basis (decision 0028).
//   - index.go: the embedding stage's documents, the vector cache and
//     erasures; models.go: embedding models and the swap between them.
//   - layout.go: how vectors are laid out (float or binary, shards) and
//     the nearest-neighbour scan; search.go: hybrid search (vectors and
//     FTS5, fused by rank).
package vectors
