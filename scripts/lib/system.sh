# shellcheck shell=bash
# System packages the tests need, installed with Debian's apt-get when missing (as root).
# Every package installed is printed with the reason, and listed again in the summary
# (INSTALLED_PACKAGES). docs/testing.md lists the same packages.

INSTALLED_PACKAGES=()
APT_UPDATED=""

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# apt_install WHY PACKAGE...: installs the packages, saying why. Services that a package would
# start (nginx, postgresql) are not started: the tests run their own, on their own ports.
apt_install() {
  local why="$1"
  shift
  local pkg
  for pkg in "$@"; do note "installing system package $pkg: $why"; done
  apt_get_install "$@" || return 1
  for pkg in "$@"; do INSTALLED_PACKAGES+=("$pkg ($why)"); done
}

# apt_get_install PACKAGE...: apt-get install, quietly, with no service started; says why not.
apt_get_install() {
  if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    err "cannot install $* (needs root and apt-get): install it yourself, then re-run"
    return 1
  fi
  if [[ -z "$APT_UPDATED" ]]; then
    apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
  [[ -z "$made_policy" ]] || rm -f "$policy"
  if [[ $rc -ne 0 ]]; then
    err "apt-get install $* failed (exit status $rc)"
    return 1
  fi
}

# What each tool is for, as printed when its package is installed: "command|package|why".
SYSTEM_TOOLS=(
  "chromium|chromium|the browser tests (tests/e2e) drive Debian's Chromium"
  "psql|postgresql-client|the interop tests make their PostgreSQL database with psql"
  "sqlite3|sqlite3|tests/e2e/richtext.test.mjs and the Hocuspocus \"saved means saved\" test read the SQLite database with sqlite3"
  "nginx|nginx|tests/compose checks deploy/nginx.conf with nginx -t"
  "openssl|openssl|tests/compose makes a throwaway certificate for nginx -t"
  "docker-compose|docker-compose|tests/compose validates docker-compose.yml with docker-compose config"
  "strace|strace|the durability test (crates/server/tests/it/durability.rs) watches the server's fsync calls with strace"
  "nats-server|nats-server|the cluster tests (Rust and tests/interop) start their own nats-server between Tandem instances"
  "promtool|prometheus|tests/deploy checks deploy/prometheus/alerts.yml with promtool check rules and promtool test rules"
  "podman|podman|tests/deploy builds and runs the container image with podman"
  "runc|runc|tests/deploy runs podman with the runc runtime (crun is refused setrlimit on these machines)"
  "debootstrap|debootstrap|tests/deploy makes the image's Debian bookworm base with debootstrap (public registries may be unreachable)"
)

has_tool() {
  case "$1" in
    chromium) [[ -x /usr/bin/chromium ]] ;;
    docker-compose) command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 ;;
    # Debian installs these in /usr/sbin, which is not on every user's PATH.
    nats-server | runc | debootstrap) command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# setup_system_tools: installs every missing tool of SYSTEM_TOOLS, one package at a time so
# each install says why. When one cannot be installed, the tests needing it skip (and say so);
# on CI (CI=true) that fails this step, since CI must run everything.
setup_system_tools() {
  local entry cmd pkg why i cmds=() pkgs=() whys=() missing=()
  for entry in "${SYSTEM_TOOLS[@]}"; do
    IFS='|' read -r cmd pkg why <<<"$entry"
    if has_tool "$cmd"; then
      note "$cmd: present"
    else
      cmds+=("$cmd") pkgs+=("$pkg") whys+=("$why")
    fi
  done
  [[ ${#pkgs[@]} -eq 0 ]] && return 0
  # All in one apt-get call (one download and one dpkg run: on a fresh machine this is the
  # slowest setup); when that fails, one at a time, to find which cannot be installed.
  for i in "${!pkgs[@]}"; do note "installing system package ${pkgs[$i]}: ${whys[$i]}"; done
  if apt_get_install "${pkgs[@]}"; then
    for i in "${!pkgs[@]}"; do INSTALLED_PACKAGES+=("${pkgs[$i]} (${whys[$i]})"); done
  else
    for i in "${!pkgs[@]}"; do
      has_tool "${cmds[$i]}" && continue
      apt_install "${whys[$i]}" "${pkgs[$i]}" || missing+=("${pkgs[$i]}")
    done
  fi
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if on_ci; then
    err "missing on CI: ${missing[*]}"
    return 1
  fi
  warn "missing: ${missing[*]}; the tests that need them will skip or fail, each with its reason"
}

# rustfmt and clippy are rustup components that a minimal toolchain may lack.
setup_rust() {
  command -v cargo >/dev/null 2>&1 || { err "cargo not found: install Rust (https://rustup.rs) and re-run" && return 1; }
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v rustup >/dev/null 2>&1 || { err "cargo ${missing[*]} not available and rustup not found to add them" && return 1; }
  note "adding rustup components: ${missing[*]}"
  rustup component add "${missing[@]}"
}

# cargo-nextest runs every Rust test in its own process. The suite needs that: the metrics
# recorder is global to a process, so under plain `cargo test` tests that assert exact metric
# values see each other's counts. Installed with cargo when missing; on CI a failed install
# fails this step (and with it the Rust tests), elsewhere the run falls back to `cargo test`
# with a warning that metric assertions may then fail.
setup_nextest() {
  cargo nextest --version >/dev/null 2>&1 && { cargo nextest --version | head -n 1; return 0; }
  note "installing cargo-nextest (cargo install cargo-nextest --locked): the Rust tests run one process per test"
  if cargo install cargo-nextest --locked; then
    INSTALLED_PACKAGES+=("cargo-nextest (cargo install: the Rust tests need one process per test)")
    return 0
  fi
  if on_ci; then
    err "cargo-nextest is required on CI and could not be installed: install it (cargo install cargo-nextest --locked, or a prebuilt binary from https://nexte.st) and re-run"
    return 1
  fi
  warn "cargo-nextest could not be installed: falling back to cargo test, where tests that assert exact metric values can fail (one process runs many tests)"
}

# Chromium for the browser tests (Debian's package, at /usr/bin/chromium).
setup_chromium() {
  [[ -x /usr/bin/chromium ]] || { err "/usr/bin/chromium is missing (Debian: apt-get install chromium); the browser tests need it" && return 1; }
  /usr/bin/chromium --version 2>/dev/null || true
  export CHROME_PATH=/usr/bin/chromium CHROMIUM_PATH=/usr/bin/chromium PUPPETEER_EXECUTABLE_PATH=/usr/bin/chromium
}

# npm_ci DIR: exactly what the lock file says.
npm_ci() {
  [[ -f "$ROOT/$1/package.json" ]] || { err "$1/package.json is missing: $1 is a test suite of scripts/test.sh (NODE_DIRS) and cannot run without it" && return 1; }
  [[ -f "$ROOT/$1/package-lock.json" ]] || { err "$1/package-lock.json is missing: run 'npm install' in $1 and commit the lock file" && return 1; }
  # --prefer-offline: packages already in npm's cache are taken from it without asking the
  # registry again (the lock file pins each one by version and integrity hash).
  timeout --kill-after=15 "$LIMIT_SUITE" npm ci --prefix "$ROOT/$1" --no-audit --no-fund --prefer-offline
}

# The API fuzzer (tests/api-fuzz): schemathesis from PyPI, pinned, in a virtualenv kept in
# the user's cache between runs (TANDEM_CACHE, default ~/.cache/tandem). Debian's python3
# needs python3-venv for `python3 -m venv`. Exports SCHEMATHESIS. When it cannot be had, the
# fuzzer is skipped with SCHEMATHESIS_MISSING as the reason, except on CI, where this fails.
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_MISSING=""
setup_schemathesis() {
  local cache="${TANDEM_CACHE:-$HOME/.cache/tandem}" venv
  venv="$cache/schemathesis"
  if ! command -v python3 >/dev/null 2>&1; then
    apt_install "the API fuzzer (tests/api-fuzz) runs schemathesis, a Python program" python3 python3-venv ||
      { schemathesis_missing "python3 is missing and could not be installed"; return; }
  fi
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install "the API fuzzer (tests/api-fuzz) installs schemathesis in a virtualenv" python3-venv ||
      { schemathesis_missing "python3-venv is missing and could not be installed"; return; }
  fi
  if [[ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != *"$SCHEMATHESIS_VERSION"* ]]; then
    note "installing schemathesis $SCHEMATHESIS_VERSION (PyPI) in $venv"
    rm -rf "$venv"
    mkdir -p "$cache"
    if ! { python3 -m venv "$venv" &&
      timeout --kill-after=15 "$LIMIT_SUITE" "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION"; }; then
      rm -rf "$venv"
      schemathesis_missing "schemathesis $SCHEMATHESIS_VERSION could not be installed from PyPI (is it reachable?)"
      return
    fi
  fi
  "$venv/bin/schemathesis" --version
  export SCHEMATHESIS="$venv/bin/schemathesis"
}

# setup_schemathesis_bg: setup_schemathesis as a background step (scripts/test.sh runs it
# while the Rust build runs); its findings are left in $TMP_ROOT/schemathesis.missing for
# schemathesis_adopt, since a background step's variables are lost.
setup_schemathesis_bg() {
  local rc=0
  setup_schemathesis || rc=$?
  printf '%s' "$SCHEMATHESIS_MISSING" >"$TMP_ROOT/schemathesis.missing"
  return "$rc"
}
schemathesis_adopt() { # in the foreground, after setup_schemathesis_bg
  SCHEMATHESIS_MISSING="$(cat "$TMP_ROOT/schemathesis.missing" 2>/dev/null)" ||
    SCHEMATHESIS_MISSING="the schemathesis setup did not finish: the API fuzzer (tests/api-fuzz) cannot run"
  [[ -n "$SCHEMATHESIS_MISSING" ]] || export SCHEMATHESIS="${TANDEM_CACHE:-$HOME/.cache/tandem}/schemathesis/bin/schemathesis"
}

schemathesis_missing() { # schemathesis_missing REASON: fails on CI, else the fuzzer skips
  SCHEMATHESIS_MISSING="$1: the API fuzzer (tests/api-fuzz) cannot run"
  if [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; then
    err "$SCHEMATHESIS_MISSING (on CI this fails)"
    return 1
  fi
  warn "$SCHEMATHESIS_MISSING; it will be skipped"
}
