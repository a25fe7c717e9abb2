# apron: the airport edge node. `make demo` runs it, `make test` tests it.
SHELL := /usr/bin/env bash
export GOFLAGS := -tags=sqlite_fts5
export CGO_ENABLED := 1
# SQLite maps at most SQLITE_MAX_MMAP_SIZE of a database (2 GiB by
# default): raised, so that a large vector index is scanned through mmap.
# On x86-64 with AVX, sqlite-vec computes L2 distances with its AVX kernel
# (about 3x faster); VEC_SIMD=off builds a binary for any x86-64.
VEC_SIMD ?= $(shell [ "$$(uname -m)" = x86_64 ] && grep -qw avx /proc/cpuinfo 2>/dev/null && echo avx || echo off)
CGO_CFLAGS_SQLITE := -DSQLITE_MAX_MMAP_SIZE=68719476736
ifeq ($(VEC_SIMD),avx)
CGO_CFLAGS_SQLITE += -DSQLITE_VEC_ENABLE_AVX -mavx -mpopcnt
endif
export CGO_CFLAGS := -O2 -g $(CGO_CFLAGS_SQLITE)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
TEMPL_VERSION := v0.3.1100
GOBIN := $(shell go env GOPATH)/bin
TEMPL := $(GOBIN)/templ

.PHONY: all build demo serve setup setup-test test test-short test-e2e lint generate check-generate bench clean

all: build

$(TEMPL):
	@go install github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION)

## generate: regenerate templ components
generate: $(TEMPL)
	@$(TEMPL) generate -path ui >/dev/null 2>&1 || $(TEMPL) generate -path ui

## check-generate: fail when committed generated files are stale
check-generate: generate
	@git diff --exit-code -- ui/ || { echo "templ generate changed files: commit them" >&2; exit 1; }

## build: build bin/apron
build: generate
	@go build -ldflags "-X main.version=$(VERSION)" -o bin/apron .

## setup: install and cache what the node needs (idempotent)
setup:
	@scripts/setup.sh

## setup-test: and what the tests need besides (a browser, Kafka, models)
setup-test:
	@scripts/setup-test.sh

## demo: run the node with a simulated airport day; console on http://127.0.0.1:8080
demo: setup build
	@bin/apron demo --data .cache/demo-data

## serve: run the node
serve: build
	@bin/apron serve

## test: the whole suite, with the race detector, against real parts
## (./... includes the end-to-end tests in e2e/ and the harnesses in bench/)
test: setup-test check-generate
	@go vet ./...
	@go test -race -count=1 -timeout 60m ./...

## test-short: quick tests (no child processes)
test-short:
	@go test -short -count=1 ./...

## test-e2e: only the end-to-end tests (e2e/), against real parts
test-e2e: setup-test
	@go test -race -count=1 -timeout 60m ./e2e/

## lint: vet, gofmt, staticcheck
lint:
	@go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## bench: benchmarks that compare against baselines in the same run (the
## harnesses are in bench/: apron bench console|bridge|assist|embed|search)
bench: build
	@bin/apron bench ingest

clean:
	rm -rf bin .cache/demo-data
