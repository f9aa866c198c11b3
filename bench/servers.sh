# Starting and stopping the systems under test, for bench/run.sh and bench/capacity.sh
# (sourced). The caller sets WORK (a scratch directory), TANDEM (the release binary),
# SERVER_PIN (an array: a taskset prefix, or empty) and PG_URL_BASE, and runs from the
# repository root (the Node servers live in bench/node_modules).
# shellcheck shell=bash

PG_DB=""

# pg_create PORT: a throwaway database for one run of a tandem-postgres* system, named in
# PG_DB; fails when PostgreSQL is unreachable.
pg_create() {
  PG_DB="tandem_bench_$$_$1"
  if ! psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
    PG_DB=""
    return 1
  fi
}

pg_drop() {
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    PG_DB=""
  fi
}

wait_port() {
  local port=$1
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# start_server SYSTEM PORT: sets SERVER_PID, URL, HP
start_server() {
  local system=$1 port=$2
  HP=""
  local durability=process
  case "$system" in *-disk) durability=disk ;; esac
  case "$system" in
    tandem-sqlite|tandem-sqlite-disk)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --durability "$durability" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    tandem-postgres|tandem-postgres-disk)
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --durability "$durability" \
        --database-url "$PG_URL_BASE/$PG_DB" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    tandem-hocuspocus)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/hocuspocus"
      HP="--hocuspocus" ;;
    y-websocket-server)
      HOST=127.0.0.1 PORT=$port "${SERVER_PIN[@]}" node bench/node_modules/@y/websocket-server/src/server.js \
        >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/{doc}" ;;
    hocuspocus)
      PORT=$port "${SERVER_PIN[@]}" node bench/hocuspocus-server.mjs >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/"
      HP="--hocuspocus" ;;
    *) log "unknown system $system"; return 1 ;;
  esac
  SERVER_PID=$!
  if ! wait_port "$port"; then
    log "$system did not start:"; cat "$WORK/server.log" >&2; return 1
  fi
}

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

# write_versions FILE: what ran, on what, and how busy the machine was before.
write_versions() {
  {
    echo "tandem=$("$TANDEM" --version 2>/dev/null | awk '{print $2}')"
    echo "git=$(git rev-parse --short HEAD 2>/dev/null)"
    echo "rustc=$(rustc --version | awk '{print $2}')"
    echo "node=$(node --version)"
    echo "y-websocket-server=$(node -p "require('./bench/node_modules/@y/websocket-server/package.json').version")"
    echo "hocuspocus=$(node -p "require('./bench/node_modules/@hocuspocus/server/package.json').version")"
    echo "yjs=$(node -p "require('./bench/node_modules/yjs/package.json').version")"
    echo "postgres=$(psql "$PG_URL_BASE/postgres" -Atc 'show server_version' 2>/dev/null || echo n/a)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "nproc=$(nproc)"
    echo "mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "uptime_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$1"
}
