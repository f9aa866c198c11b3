#!/usr/bin/env bash
# shellcheck disable=SC2317 # setup functions are called indirectly, through run_step
# Tandem's one test command (CI runs it through .ci/run).
#
# Works from a fresh clone, as root or not, with no terminal: it provides PostgreSQL and
# Chromium when they are missing, installs the Node dependencies, then runs every suite.
# A failing suite does not stop the others: each one's status is collected and a summary is
# printed at the end. The last line is always `N passed, N failed` (N counts suites), and
# the exit status is non-zero when anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# cargo installed through rustup lives here; a non-login shell (CI) may not have it on PATH.
if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
export CI="${CI:-true}"
export DEBIAN_FRONTEND=noninteractive
# Browser binaries come from Debian's chromium package; npm packages must not try to download
# their own (there is no network for that here, and it would be a second browser to keep).
export PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# Per-step time limits (seconds): a guard against hangs, not a budget. A normal cold run on
# 2 cores takes well under 20 minutes; a cold Rust build on a busy machine can take 15.
# `timeout` kills the step's whole process group.
LIMIT_RUST_BUILD="${LIMIT_RUST_BUILD:-1800}"
LIMIT_SUITE="${LIMIT_SUITE:-900}"

RUN_START=$SECONDS
TMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/tandem-test.XXXXXX")"
chmod 755 "$TMP_ROOT" # the throwaway PostgreSQL runs as another user and lives in here

# ---------------------------------------------------------------------------------------
# output helpers

banner() { # with the time since the start, so slow steps are easy to spot in CI logs
  local t=$((SECONDS - RUN_START))
  printf '\n\033[1m==== %s ====\033[0m [+%dm%02ds]\n' "$*" $((t / 60)) $((t % 60))
}
note() { printf -- '--> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
err() { printf 'ERROR: %s\n' "$*" >&2; }

# Results: parallel arrays, one entry per step. KIND is "setup" or "suite"; only suites are
# counted in the final line, but a failed setup step makes the suites that need it fail.
STEP_NAMES=()
STEP_KINDS=()
STEP_RESULTS=()
STEP_SECONDS=()
STEP_NOTES=()

record() { # record NAME KIND RESULT SECONDS NOTE
  STEP_NAMES+=("$1")
  STEP_KINDS+=("$2")
  STEP_RESULTS+=("$3")
  STEP_SECONDS+=("$4")
  STEP_NOTES+=("$5")
}

# result_of NAME -> PASS / FAIL / SKIP, or nothing if the step has not run
result_of() {
  local i
  for i in "${!STEP_NAMES[@]}"; do
    if [[ "${STEP_NAMES[$i]}" == "$1" ]]; then
      printf '%s' "${STEP_RESULTS[$i]}"
      return
    fi
  done
}

# needs "STEP,STEP..." -> succeeds when every listed step passed; otherwise sets MISSING_DEP.
MISSING_DEP=""
needs() {
  local dep r dep_list
  IFS=, read -r -a dep_list <<<"$1"
  for dep in "${dep_list[@]}"; do
    r="$(result_of "$dep")"
    if [[ "$r" != PASS ]]; then
      MISSING_DEP="$dep (${r:-not run})"
      return 1
    fi
  done
  return 0
}

# run_step KIND NAME LIMIT DEPS -- COMMAND...
# Runs COMMAND under a banner, unless a step listed in DEPS (comma-separated) did not pass.
# LIMIT is a time limit in seconds for external commands; "-" runs COMMAND in this shell
# (needed for setup functions that export variables).
run_step() {
  local kind="$1" name="$2" limit="$3" deps="$4"
  shift 4
  [[ "$1" == "--" ]] && shift
  banner "$name"
  if [[ -n "$deps" ]] && ! needs "$deps"; then
    err "$name not run: it needs $MISSING_DEP"
    record "$name" "$kind" FAIL 0 "not run: needs $MISSING_DEP"
    return 0
  fi
  local start=$SECONDS rc=0
  if [[ "$limit" == "-" ]]; then
    "$@" || rc=$?
  else
    timeout --kill-after=15 "$limit" "$@" || rc=$?
  fi
  local took=$((SECONDS - start))
  if [[ $rc -eq 0 ]]; then
    record "$name" "$kind" PASS "$took" ""
  elif [[ "$limit" != "-" && ($rc -eq 124 || $rc -eq 137) ]]; then
    err "$name timed out after ${limit}s"
    record "$name" "$kind" FAIL "$took" "timed out after ${limit}s"
  else
    err "$name failed (exit status $rc)"
    record "$name" "$kind" FAIL "$took" "exit status $rc"
  fi
  return 0
}

# skip_step KIND NAME REASON: a step that cannot apply yet (e.g. a project not written yet).
skip_step() {
  banner "$2"
  warn "$2 skipped: $3"
  record "$2" "$1" SKIP 0 "$3"
}

# ---------------------------------------------------------------------------------------
# cleanup: stop the throwaway PostgreSQL (if any) and remove temp files. Silent, so the
# summary's last line stays the last line printed.

PG_STOP_CMD=()
cleanup() {
  if [[ ${#PG_STOP_CMD[@]} -gt 0 ]]; then
    "${PG_STOP_CMD[@]}" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP_ROOT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# PostgreSQL: reuse a running local server, else start a throwaway cluster.

is_root() { [[ "$(id -u)" -eq 0 ]]; }

APT_UPDATED=""
apt_install() { # apt_install PACKAGE... (root only; refreshes package lists once per run)
  if ! is_root; then
    err "cannot install $* : not root (install it yourself, then re-run)"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    err "cannot install $* : apt-get not found (install it yourself, then re-run)"
    return 1
  fi
  note "installing $* with apt-get"
  if [[ -z "$APT_UPDATED" ]]; then
    apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  apt-get install -y -qq --no-install-recommends "$@"
}

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

port_in_use() { # something accepts TCP connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

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
    note "PostgreSQL server binaries not found"
    apt_install postgresql || {
      err "PostgreSQL is not installed and could not be installed. Install it (Debian: apt-get install postgresql) or set TANDEM_TEST_PG_URL to an admin URL of a running server."
      return 1
    }
    bindir="$(find_pg_bindir)" || {
      err "postgresql was installed but initdb/pg_ctl/postgres were not found under /usr/lib/postgresql/*/bin"
      return 1
    }
  fi
  note "using PostgreSQL binaries in $bindir"

  # initdb refuses to run as root, so as root the cluster belongs to an unprivileged user.
  local run_as=()
  if is_root; then
    local pg_user=postgres
    if ! id "$pg_user" >/dev/null 2>&1; then
      pg_user=tandem-pg
      id "$pg_user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    run_as=(runuser -u "$pg_user" --)
    note "running the throwaway cluster as user $pg_user"
  fi

  local port=55432
  while port_in_use "$port"; do
    port=$((port + 1))
    if [[ $port -gt 55532 ]]; then
      err "no free port for PostgreSQL between 55432 and 55532"
      return 1
    fi
  done

  local base="$TMP_ROOT/pg"
  mkdir -p "$base/sock"
  if is_root; then chown -R "${run_as[2]}" "$base"; fi

  note "initdb in $base/data"
  "${run_as[@]}" "$bindir/initdb" -D "$base/data" -U postgres -A trust -E UTF8 --no-sync \
    >"$base/initdb.log" 2>&1 || {
    cat "$base/initdb.log" >&2
    err "initdb failed (log above)"
    return 1
  }
  # fsync off: a test cluster that is thrown away needs no durability, and it is much faster.
  # More connections than the default: each Rust test makes its own database and pool.
  note "starting PostgreSQL on 127.0.0.1:$port"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
    -o "-p $port -k $base/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || {
    cat "$base/server.log" >&2 || true
    err "PostgreSQL did not start (server log above)"
    return 1
  }
  PG_STOP_CMD=("${run_as[@]}" "$bindir/pg_ctl" -D "$base/data" -m immediate -w stop)
  export TANDEM_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# TANDEM_TEST_PG_URL set: use it. TANDEM_TEST_PG=throwaway: always start a private cluster.
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

# ---------------------------------------------------------------------------------------
# Chromium for the browser tests (Debian's package; the e2e tests find it at /usr/bin/chromium).

setup_chromium() {
  if [[ ! -x /usr/bin/chromium ]]; then
    note "/usr/bin/chromium is missing"
    apt_install chromium || {
      err "Chromium is not installed and could not be installed (Debian: apt-get install chromium). The browser tests need it."
      return 1
    }
  fi
  /usr/bin/chromium --version 2>/dev/null || true
  export CHROME_PATH=/usr/bin/chromium CHROMIUM_PATH=/usr/bin/chromium
  export PUPPETEER_EXECUTABLE_PATH=/usr/bin/chromium
}

# docker-compose lets the compose checks run `docker-compose config` too. Optional: without
# it that one check is skipped, so a failed install is only a warning.
setup_docker_compose() {
  if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then
    return 0
  fi
  apt_install docker-compose >/dev/null 2>&1 ||
    warn "docker-compose is not available; the compose checks will skip 'docker-compose config'"
  return 0
}

# ---------------------------------------------------------------------------------------
# Node projects. Each gets `npm ci` (exactly what its lock file says). A project that has no
# package.json yet is skipped with a warning; one with a package.json but no lock file fails.

NODE_DIRS=(web tests/interop tests/compose tests/e2e)

has_node_project() { [[ -f "$ROOT/$1/package.json" ]]; }

npm_ci() { # npm_ci DIR
  if [[ ! -f "$ROOT/$1/package-lock.json" ]]; then
    err "$1/package-lock.json is missing: run 'npm install' in $1 and commit the lock file"
    return 1
  fi
  timeout --kill-after=15 "$LIMIT_SUITE" npm ci --prefix "$ROOT/$1" --no-audit --no-fund
}

# rustfmt and clippy are rustup components that a minimal toolchain may lack.
setup_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    err "cargo not found: install Rust (https://rustup.rs) and re-run"
    return 1
  fi
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  if [[ ${#missing[@]} -gt 0 ]]; then
    if command -v rustup >/dev/null 2>&1; then
      note "adding rustup components: ${missing[*]}"
      rustup component add "${missing[@]}" || {
        err "could not add ${missing[*]} (rustup component add ${missing[*]})"
        return 1
      }
    else
      err "cargo ${missing[*]} not available and rustup not found to add them"
      return 1
    fi
  fi
}

# Rust tests: nextest when installed (faster, per-test processes), else cargo test.
RUST_TEST_CMD=(cargo test --workspace --no-fail-fast)
if cargo nextest --version >/dev/null 2>&1; then
  # --no-tests=warn: a workspace without tests yet is not an error; nextest still prints its
  # own summary line.
  RUST_TEST_CMD=(cargo nextest run --workspace --no-fail-fast --no-tests=warn)
fi

# =========================================================================================
# The run

banner "Tandem test run in $ROOT"
note "$(uname -srm), $(nproc) cores, user $(id -un)"
note "node $(node --version 2>/dev/null || echo missing), npm $(npm --version 2>/dev/null || echo missing), $(cargo --version 2>/dev/null || echo 'cargo missing')"

# --- setup ---------------------------------------------------------------------------------
run_step setup rust - "" -- setup_rust
run_step setup postgres - "" -- setup_postgres
run_step setup chromium - "" -- setup_chromium
run_step setup docker-compose - "" -- setup_docker_compose

for dir in "${NODE_DIRS[@]}"; do
  if has_node_project "$dir"; then
    run_step setup "npm ci $dir" - "" -- npm_ci "$dir"
  else
    skip_step setup "npm ci $dir" "$dir/package.json does not exist yet"
  fi
done

# The web app is built before the Rust code: the server serves web/dist (and the browser tests
# need it). scripts/build.sh is the same build that run.sh and the Dockerfile use.
if has_node_project web; then
  run_step suite "web build" "$LIMIT_SUITE" "npm ci web" -- "$ROOT/scripts/build.sh" web
else
  skip_step suite "web build" "web/package.json does not exist yet"
fi

# --- Rust ----------------------------------------------------------------------------------
run_step suite "cargo fmt" "$LIMIT_SUITE" "rust" -- cargo fmt --all -- --check
run_step suite "cargo clippy" "$LIMIT_RUST_BUILD" "rust" -- cargo clippy --workspace --all-targets -- -D warnings
run_step suite "cargo build" "$LIMIT_RUST_BUILD" "rust" -- cargo build --workspace --all-targets
run_step suite "rust tests" "$LIMIT_SUITE" "postgres,cargo build" -- "${RUST_TEST_CMD[@]}"

# --- Node ----------------------------------------------------------------------------------
# The interop and browser tests start the debug server binary built above.
export TANDEM_BIN="${TANDEM_BIN:-$ROOT/target/debug/tandem}"

if has_node_project web; then
  run_step suite "web unit tests" "$LIMIT_SUITE" "npm ci web" -- npm test --prefix "$ROOT/web"
else
  skip_step suite "web unit tests" "web/package.json does not exist yet"
fi
if has_node_project tests/interop; then
  run_step suite "interop tests" "$LIMIT_SUITE" "npm ci tests/interop,cargo build" -- npm test --prefix "$ROOT/tests/interop"
else
  skip_step suite "interop tests" "tests/interop/package.json does not exist yet"
fi
if has_node_project tests/compose; then
  run_step suite "compose checks" "$LIMIT_SUITE" "npm ci tests/compose" -- npm test --prefix "$ROOT/tests/compose"
else
  skip_step suite "compose checks" "tests/compose/package.json does not exist yet"
fi
if has_node_project tests/e2e; then
  run_step suite "browser e2e tests" "$LIMIT_SUITE" "npm ci tests/e2e,chromium,web build,cargo build" -- npm test --prefix "$ROOT/tests/e2e"
else
  skip_step suite "browser e2e tests" "tests/e2e/package.json does not exist yet"
fi

# --- summary -------------------------------------------------------------------------------
banner "Summary"
passed=0
failed=0
skipped=0
printf '%-22s %-6s %-6s %s\n' STEP RESULT TIME NOTE
for i in "${!STEP_NAMES[@]}"; do
  kind="${STEP_KINDS[$i]}"
  result="${STEP_RESULTS[$i]}"
  printf '%-22s %-6s %5ss %s\n' "${STEP_NAMES[$i]}" "$result" "${STEP_SECONDS[$i]}" \
    "${STEP_NOTES[$i]}${STEP_NOTES[$i]:+ }$([[ $kind == setup ]] && echo '(setup)')"
  if [[ "$kind" == suite ]]; then
    case "$result" in
      PASS) passed=$((passed + 1)) ;;
      FAIL) failed=$((failed + 1)) ;;
      *) skipped=$((skipped + 1)) ;;
    esac
  elif [[ "$result" == FAIL ]]; then
    # a failed setup step already failed the suites that need it; make sure it is not lost
    # if nothing depends on it
    setup_failed=1
  fi
done
total_time=$((SECONDS - RUN_START))
printf '\nsuites skipped: %d; total time %dm%02ds\n' "$skipped" $((total_time / 60)) $((total_time % 60))

status=0
if [[ $failed -gt 0 || -n "${setup_failed:-}" ]]; then
  status=1
  if [[ $failed -eq 0 ]]; then
    printf 'a setup step failed (see above)\n'
    failed=1
  fi
fi
printf '%d passed, %d failed\n' "$passed" "$failed"
exit "$status"
