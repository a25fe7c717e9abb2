// Package bench holds the `apron bench …` harnesses and their baselines.
// Each harness measures apron beside the thing it is built on, in the same
// run on the same disk, so that the ratios hold on a shared machine:
//
//   - Ingest: HTTP ingest beside raw JetStream publishing (ingest.go)
//   - Console: the board over HTTP beside the store fetch (console.go)
//   - Bridge: the Kafka bridge beside Kafka's ProducerPerformance (bridge.go)
//   - Assist: option generation, and ranking beside raw Ollama calls (assist.go)
//   - Embed: the embedding stage beside raw /api/embed calls (embed.go)
//   - Search: sqlite-vec beside a plain Go scan, Scan (search.go, scan.go)
//
// The harnesses start whole nodes through package node, like the
// end-to-end tests; the command (package main) only dispatches to them.
// BenchmarkKNN is the `go test -bench` form of the search comparison.
package bench
