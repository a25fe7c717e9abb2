// Package e2e holds apron's end-to-end tests: the ones that run the apron
// binary as a child process (crash recovery, the supervised Ollama, the
// model commands) or several real adapters together (the node against a
// real Kafka, a real Ollama, headless Chromium, the index pipeline).
//
// The tests start nodes in the test process through package node (MustRunMain
// in helpers_test.go) and build the binary with `go build` where a test
// needs a process it can kill. They run in-process because they assert on
// the opened parts themselves (the state store, the log, the proposer),
// which a child process would hide; and Go cannot import package main, so
// the wiring that both the command and the tests use lives in package node,
// and the root keeps only the dispatch and the commands.
//
// The shared helpers are in helpers_test.go: checkFor, MustRunMain, the
// authenticated post/get, buildBinary. TestMain runs from the repository
// root, so scripts/ and .cache/ resolve as they do for make.
package e2e
