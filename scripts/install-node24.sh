#!/usr/bin/env bash
# Installs a real Node 24 binary (npm package `node@24`) under tools/node24, outside the workspace,
# so the suite also runs on the Node most users have, without shadowing the system node in npm
# scripts. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=tools/node24
if [ -x "$dir/node_modules/.bin/node" ] && "$dir/node_modules/.bin/node" --version | grep -q '^v24\.'; then
  echo "node 24 present: $("$dir/node_modules/.bin/node" --version)"
  exit 0
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{ "name": "node24-tool", "private": true }' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error node@24 >/dev/null
"$dir/node_modules/.bin/node" --version
