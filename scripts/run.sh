#!/usr/bin/env bash
# Build and run Tandem locally: `./scripts/run.sh [serve options]`.
#
# Server defaults: --listen 127.0.0.1:8080, SQLite under ./data, web editor from web/dist.
# Any arguments are passed to `tandem serve`, e.g. `./scripts/run.sh --listen 0.0.0.0:8080`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Install the web app's dependencies only when needed (first run, or the lock file changed),
# so a normal start does not spend time in npm. The stamp records which lock was installed.
stamp=web/node_modules/.tandem-lock.sha256
want="$(sha256sum web/package-lock.json | cut -d' ' -f1)"
if [[ ! -d web/node_modules || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "--> installing web dependencies (npm ci)"
  npm ci --prefix web --no-audit --no-fund
  echo "$want" >"$stamp"
fi

# Same build steps as CI and the Dockerfile. The web editor is rebuilt only when its sources
# changed since the last build (the stamp records a hash of them).
web_stamp=web/node_modules/.tandem-web-src.sha256
web_src="$(cd web && find src public index.html package-lock.json tsconfig.json vite.config.ts -type f \
  -not -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [[ -f web/dist/index.html && -f "$web_stamp" && "$(cat "$web_stamp")" == "$web_src" ]]; then
  echo "--> web editor is up to date (web/dist)"
else
  "$ROOT/scripts/build.sh" web
  echo "$web_src" >"$web_stamp"
fi
"$ROOT/scripts/build.sh" server

echo "--> starting tandem"
exec cargo run --release --quiet -p tandem -- serve "$@"
