#!/usr/bin/env bash
# setup.sh installs and caches everything the test suite and the demo need
# that is not Go code: it is idempotent and prints nothing when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
go mod download
