#!/usr/bin/env bash
# setup.sh installs and caches what the node needs to run from a fresh
# machine (the demo's `make demo`). Idempotent; quiet when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
go mod download
