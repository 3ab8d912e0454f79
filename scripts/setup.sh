#!/usr/bin/env bash
# Installs what the gateway needs on a fresh Debian/Ubuntu machine with Node 20+ (22+ supported):
# RabbitMQ, the Postgres server and Chromium (each skipped when present), then the npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)

missing=()
[ -x /usr/sbin/rabbitmq-server ] || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
# Chromium only for the operator console's browser test (npm test).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node 20 or later is needed (found $(node --version))" >&2
  exit 1
fi
if [ "$node_major" -lt 22 ]; then
  echo "setup: Node $(node --version) is past its end of life: 22, 24 and 26 are supported, 26 (the Active LTS) recommended" >&2
fi

npm ci --no-audit --no-fund
echo "setup: done"
