#!/usr/bin/env bash
# setup-test.sh adds what the test suite needs beyond the node itself: a
# headless browser, an independent Kafka client and Kafka itself.
# setup.sh already brought a real Ollama with both models. Idempotent; quiet when all is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"

apt_install() {
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "setup: installing chromium for the console tests" >&2
  apt_install chromium
fi

# An independent Kafka client for the bridge tests.
if ! command -v kcat >/dev/null 2>&1; then
  echo "setup: installing kcat for the bridge tests" >&2
  apt_install kcat
fi

# The Apache Kafka broker's jars (Maven Central), for a real broker in tests.
"$ROOT/scripts/kafka.sh" setup
