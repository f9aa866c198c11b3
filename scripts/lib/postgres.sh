# shellcheck shell=bash
# PostgreSQL for the tests: TANDEM_TEST_PG_URL as given, else a running server on
# 127.0.0.1:5432 with trust auth, else a throwaway cluster in $TMP_ROOT (stopped by
# stop_postgres). TANDEM_TEST_PG=throwaway always starts a throwaway cluster.

PG_STOP_CMD=()

find_pg_bindir() {
  local cand dir
  # Debian keeps the server binaries out of PATH; prefer the newest installed version.
  for cand in "$(command -v initdb 2>/dev/null || true)" /usr/local/bin/initdb \
    $(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V -r); do
    [[ -n "$cand" && -x "$cand" ]] || continue
    dir="$(dirname "$(readlink -f "$cand")")"
    if [[ -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
      printf '%s' "$dir"
      return 0
    fi
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

existing_pg_works() {
  command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 || return 1
  pg_isready -q -h 127.0.0.1 -p 5432 -t 3 || return 1
  # -w: never prompt for a password (no terminal); trust auth is what we need.
  PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1' \
    </dev/null >/dev/null 2>&1
}

start_throwaway_pg() {
  local bindir
  if ! bindir="$(find_pg_bindir)"; then
    apt_install "no PostgreSQL server is reachable and none is installed; the tests start a throwaway one" postgresql ||
      { err "install PostgreSQL (Debian: apt-get install postgresql) or set TANDEM_TEST_PG_URL to an admin URL" && return 1; }
    bindir="$(find_pg_bindir)" || { err "initdb/pg_ctl/postgres not found under /usr/lib/postgresql/*/bin" && return 1; }
  fi
  note "using PostgreSQL binaries in $bindir"

  # initdb refuses to run as root, so as root the cluster belongs to an unprivileged user.
  local run_as=()
  if is_root; then
    local pg_user=postgres
    if ! id "$pg_user" >/dev/null 2>&1; then
      pg_user=tandem-pg
      id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    run_as=(runuser -u "$pg_user" --)
    note "running the throwaway cluster as user $pg_user"
  fi

  local port=55432
  while port_in_use "$port"; do
    port=$((port + 1))
    [[ $port -le 55532 ]] || { err "no free port for PostgreSQL between 55432 and 55532" && return 1; }
  done

  local base="$TMP_ROOT/pg"
  mkdir -p "$base/sock"
  if is_root; then chown -R "${run_as[2]}" "$base"; fi
  note "initdb in $base/data"
  "${run_as[@]}" "$bindir/initdb" -D "$base/data" -U postgres -A trust -E UTF8 --no-sync >"$base/initdb.log" 2>&1 ||
    { cat "$base/initdb.log" >&2 && err "initdb failed (log above)" && return 1; }
  # fsync off: a test cluster that is thrown away needs no durability, and it is much faster.
  # More connections than the default: each Rust test makes its own database and pool.
  note "starting PostgreSQL on 127.0.0.1:$port"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
    -o "-p $port -k $base/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$base/server.log" >&2 || true; err "PostgreSQL did not start (server log above)"; return 1; }
  PG_STOP_CMD=("${run_as[@]}" "$bindir/pg_ctl" -D "$base/data" -m immediate -w stop)
  export TANDEM_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

setup_postgres() {
  if [[ -n "${TANDEM_TEST_PG_URL:-}" ]]; then
    note "TANDEM_TEST_PG_URL is already set; using it as given"
  elif [[ "${TANDEM_TEST_PG:-}" != throwaway ]] && existing_pg_works; then
    note "PostgreSQL is running on 127.0.0.1:5432 with trust auth; using it"
    export TANDEM_TEST_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    note "no usable PostgreSQL on 127.0.0.1:5432; starting a throwaway cluster"
    start_throwaway_pg || return 1
  fi
  note "TANDEM_TEST_PG_URL=$TANDEM_TEST_PG_URL"
}

stop_postgres() {
  [[ ${#PG_STOP_CMD[@]} -eq 0 ]] || "${PG_STOP_CMD[@]}" >/dev/null 2>&1 || true
}
