#!/usr/bin/env bash
# Installs what the gateway needs on a fresh Debian/Ubuntu machine with Node 20.19 or later
# (the Node policy, stated alike in README.md and package.json's engines: 22, 24 and 26 supported):
# RabbitMQ, the Postgres server, Chromium, poppler-utils and zbar-tools (each skipped when present),
# then the npm packages.
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
# Only for the tests of printed copies: an independent renderer and QR decoder read them back.
command -v pdftoppm >/dev/null 2>&1 || missing+=(poppler-utils)
command -v zbarimg >/dev/null 2>&1 || missing+=(zbar-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node policy: 20.19 or later runs; 22, 24 and 26 are supported (20 is past its end of life).
node_version=$(node -p 'process.versions.node')
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "setup: Node 20.19 or later is needed (found v$node_version)" >&2
  exit 1
fi
if [ "${node_version%%.*}" -lt 22 ]; then
  echo "setup: Node v$node_version is past its end of life: it runs, but 22, 24 and 26 are the supported versions" >&2
fi

npm ci --no-audit --no-fund
echo "setup: done"
