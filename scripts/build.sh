#!/usr/bin/env bash
# The one definition of how Tandem is built, shared by scripts/run.sh, scripts/test.sh and
# the Dockerfile, so that what runs locally, in CI and in the image is built the same way.
#
#   scripts/build.sh web     build the web editor into web/dist (needs web/node_modules)
#   scripts/build.sh server  build the release server binary target/release/tandem
#   scripts/build.sh         both, web first (the server serves web/dist)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

build_web() {
  echo "--> building the web editor (web/dist)"
  if [[ ! -d web/node_modules ]]; then
    echo "ERROR: web/node_modules is missing: run 'npm ci --prefix web' first" >&2
    exit 1
  fi
  npm run build --prefix web
}

build_server() {
  echo "--> building the server (target/release/tandem)"
  cargo build --release -p tandem
}

case "${1:-all}" in
  web) build_web ;;
  server) build_server ;;
  all)
    build_web
    build_server
    ;;
  *)
    echo "usage: $0 [web|server|all]" >&2
    exit 2
    ;;
esac
