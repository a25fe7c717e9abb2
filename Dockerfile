# syntax=docker/dockerfile:1
# apron: one container per airport site. Build: docker build -t apron .
# Run:   docker run -p 8080:8080 -v apron-data:/data apron
# One container with its own Ollama (ollama.serve, docs/decisions/0010):
#        docker build --target single -t apron:single .
#        docker run --init -p 8080:8080 -v apron-data:/data apron:single
ARG OLLAMA_VERSION=0.17.4
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# cgo is required: mattn/go-sqlite3 and the sqlite-vec bindings are C.
# The flags match the Makefile's: a large mmap limit, and on amd64
# sqlite-vec's AVX kernel (build with --build-arg VEC_SIMD=off for CPUs
# without AVX).
ARG VEC_SIMD=avx
RUN CGO_CFLAGS="-O2 -g -DSQLITE_MAX_MMAP_SIZE=68719476736 $( [ "$VEC_SIMD" = avx ] && [ "$(uname -m)" = x86_64 ] && echo -DSQLITE_VEC_ENABLE_AVX -mavx -mpopcnt )" \
    CGO_ENABLED=1 go build -tags sqlite_fts5 -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/apron .

FROM debian:bookworm-slim AS node
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 apron \
 && useradd --system --uid 10001 --gid apron --home-dir /data --shell /usr/sbin/nologin apron \
 && mkdir -p /data && chown apron:apron /data
COPY --from=build /out/apron /usr/local/bin/apron
USER apron:apron
VOLUME ["/data"]
ENV APRON_DATA=/data \
    APRON_HTTP=0.0.0.0:8080 \
    APRON_NATS=127.0.0.1:4222
EXPOSE 8080
STOPSIGNAL SIGTERM
# The check asks the node itself over HTTP (the image has no curl):
# /healthz answers while the node serves. An orchestrator that routes
# traffic should probe /readyz too (`apron health -ready`), which also
# fails while the state lags far behind the log, as after a restore; a
# health check on it would restart a node that is catching up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["/usr/local/bin/apron", "health"]
ENTRYPOINT ["/usr/local/bin/apron"]
CMD ["serve"]

# The official Ollama image holds the release binary and its CPU/GPU
# backends (found at ../lib/ollama from the binary). Only the single
# target pulls it.
FROM ollama/ollama:${OLLAMA_VERSION} AS ollama

# The node plus `ollama serve`, which apron starts on 127.0.0.1:11434 and
# supervises. Models live in the volume (/data/ollama/models) and come in
# offline with `apron model import`; the server's key goes to $HOME=/data.
# --init reaps runners that a crashed server leaves to PID 1.
FROM node AS single
COPY --from=ollama /usr/bin/ollama /usr/local/bin/ollama
COPY --from=ollama /usr/lib/ollama /usr/local/lib/ollama
ENV APRON_OLLAMA_SERVE=true \
    APRON_OLLAMA_URL=http://127.0.0.1:11434

# The default target: the node alone, using an Ollama elsewhere by URL.
FROM node
