#!/usr/bin/env bash
# setup-ollama.sh makes an `ollama` binary available without downloading a
# prebuilt one: it uses `ollama` from PATH when present, otherwise builds the
# pinned release from the Go module proxy and caches it. Prints the binary path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${APRON_CACHE:-$ROOT/.cache}"
OLLAMA_VERSION="${OLLAMA_VERSION:-v0.17.4}"
MALGO_VERSION="${MALGO_VERSION:-v0.11.24}"
BIN="$CACHE/ollama/$OLLAMA_VERSION/bin/ollama"

# `go install` compiles ggml's CPU backend for the baseline x86-64 (SSE2 only)
# unless told otherwise, which makes inference 3-13x slower than it needs to be
# (the official release builds pick AVX2 kernels at run time instead). Build for
# x86-64-v3 (AVX2/FMA/F16C) when this CPU has it; APRON_OLLAMA_MARCH overrides
# (e.g. "native", or "" for the compiler default). A marker next to the binary
# records the flags it was built with, so a change triggers a rebuild.
if [[ -z "${APRON_OLLAMA_MARCH+set}" ]]; then
  APRON_OLLAMA_MARCH=""
  if [[ "$(uname -m)" == x86_64 ]] && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw f16c /proc/cpuinfo; then
    APRON_OLLAMA_MARCH="x86-64-v3"
  fi
fi
OPT_FLAGS="-O3${APRON_OLLAMA_MARCH:+ -march=$APRON_OLLAMA_MARCH}"
FLAGS_MARKER="$BIN.cflags"

if [[ -n "${APRON_OLLAMA_BIN:-}" && -x "${APRON_OLLAMA_BIN}" ]]; then echo "$APRON_OLLAMA_BIN"; exit 0; fi
if command -v ollama >/dev/null 2>&1; then command -v ollama; exit 0; fi
if [[ -x "$BIN" && "$(cat "$FLAGS_MARKER" 2>/dev/null)" == "$OPT_FLAGS" ]]; then echo "$BIN"; exit 0; fi

log() { echo "setup-ollama: $*" >&2; }

need_pkgs=()
[[ -f /usr/include/nlohmann/json.hpp ]] || need_pkgs+=(nlohmann-json3-dev)
[[ -f /usr/include/stb/stb_image.h ]] || need_pkgs+=(libstb-dev)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# ollama's audio code includes <miniaudio/miniaudio.h>; the Go module
# github.com/gen2brain/malgo ships that header at its root.
INC="$CACHE/ollama/include"
if [[ ! -f "$INC/miniaudio/miniaudio.h" ]]; then
  log "fetching miniaudio.h from github.com/gen2brain/malgo@$MALGO_VERSION"
  tmpmod="$(mktemp -d)"
  (cd "$tmpmod" && go mod init tmp >/dev/null 2>&1 && GOFLAGS=-mod=mod go mod download -json "github.com/gen2brain/malgo@$MALGO_VERSION" >"$tmpmod/dl.json")
  dir="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$tmpmod/dl.json")"
  mkdir -p "$INC/miniaudio"
  cp "$dir/miniaudio.h" "$INC/miniaudio/miniaudio.h"
  rm -rf "$tmpmod"
fi

log "building ollama $OLLAMA_VERSION from source with $OPT_FLAGS (several minutes, cached afterwards)"
mkdir -p "$(dirname "$BIN")"
rm -f "$FLAGS_MARKER"
CGO_ENABLED=1 CGO_CPPFLAGS="-I$INC ${CGO_CPPFLAGS:-}" \
  CGO_CFLAGS="$OPT_FLAGS ${CGO_CFLAGS:-}" CGO_CXXFLAGS="$OPT_FLAGS ${CGO_CXXFLAGS:-}" \
  GOBIN="$(dirname "$BIN")" go install "github.com/ollama/ollama@$OLLAMA_VERSION" >&2
echo "$OPT_FLAGS" >"$FLAGS_MARKER"
echo "$BIN"
