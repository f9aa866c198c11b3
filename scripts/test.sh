#!/usr/bin/env bash
# Tandem's one test command (CI runs it through .ci/run, with CI=true).
#
# Works from a fresh clone, as root or not, with no terminal: it installs the system packages
# the tests need when they are missing (printing each and why), provides PostgreSQL, installs
# the Node dependencies, then runs every suite. A failing step does not stop the others. The
# summary lists every skipped and failed test with its reason; the last line is always
# `N passed, N failed, N skipped`, counting tests (scripts/lib/steps.sh says how), and the
# exit status is non-zero when anything failed. With CI=true, a test skipped for want of
# something the test command can install counts as failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# cargo installed through rustup lives here; a non-login shell (CI) may not have it on PATH.
if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
export DEBIAN_FRONTEND=noninteractive
# Browser binaries come from Debian's chromium package; npm packages must not download their own.
export PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# Per-step time limits (seconds): a guard against hangs, not a budget. A cold Rust build on a
# busy machine can take 15 minutes. `timeout` kills the step's whole process group.
LIMIT_RUST_BUILD="${LIMIT_RUST_BUILD:-1800}"
LIMIT_SUITE="${LIMIT_SUITE:-900}"

RUN_START=$SECONDS
TMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/tandem-test.XXXXXX")"
chmod 755 "$TMP_ROOT" # the throwaway PostgreSQL runs as another user and lives in here
REPORTS="$TMP_ROOT/reports"
mkdir -p "$REPORTS"

# shellcheck source=lib/steps.sh
source "$ROOT/scripts/lib/steps.sh"
# shellcheck source=lib/system.sh
source "$ROOT/scripts/lib/system.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=lib/clippy.sh
source "$ROOT/scripts/lib/clippy.sh"

cleanup() { # silent, so the summary's last line stays the last line printed
  stop_background >/dev/null 2>&1 || true
  stop_postgres
  rm -rf "$TMP_ROOT" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM


NODE_DIRS=(web tests/interop tests/compose tests/e2e tests/deploy)

banner "Tandem test run in $ROOT"
note "$(uname -srm), $(nproc) cores, user $(id -un), CI=${CI:-}"
note "node $(node --version 2>/dev/null || echo missing), npm $(npm --version 2>/dev/null || echo missing), $(cargo --version 2>/dev/null || echo 'cargo missing')"

# --- setup, with the Rust build in the background ---------------------------------------
# The build keeps the cores busy for minutes while the other setups mostly wait on the network
# (apt, npm, PyPI, debootstrap), so it starts first and the setups run beside it.
setup rust "" -- setup_rust
setup cargo-nextest rust -- setup_nextest
# Rust tests: under nextest (its `test-sh` profile writes a JUnit report). Only off CI, when
# nextest could not be installed, under plain cargo test (setup_nextest warned).
RUST_TESTS=(junit cargo nextest run --workspace --no-fail-fast --profile test-sh)
if ! on_ci && ! cargo nextest --version >/dev/null 2>&1; then
  RUST_TESTS=(cargo-test-log cargo test --workspace --no-fail-fast)
fi
# Clippy lints the workspace while cargo builds it (scripts/lib/clippy.sh), which compiles
# everything once; where that cannot be shown to deny Clippy's warnings, two steps as before.
if [[ "$(result_of rust)" == PASS ]] && clippy_in_build; then
  BUILD=clippy+build
  note "Clippy runs inside cargo build (RUSTC_WORKSPACE_WRAPPER=$RUSTC_WORKSPACE_WRAPPER)"
  check_start "$BUILD" "$LIMIT_RUST_BUILD" rust -- cargo build --workspace --all-targets
else
  BUILD="cargo build"
  check_start "cargo clippy" "$LIMIT_RUST_BUILD" rust -- cargo clippy --workspace --all-targets -- -D warnings
fi
setup "system packages" "" -- setup_system_tools
setup postgres "" -- setup_postgres # may install postgresql: the last apt-get of the run
setup chromium "" -- setup_chromium
# Downloads that nothing needs until later: the fuzzer's virtualenv, and the Debian base of the
# container image (a first debootstrap takes minutes; tests/deploy/base-image.mjs).
setup_start schemathesis "" -- setup_schemathesis_bg
setup_start "base image" "" -- node "$ROOT/tests/deploy/base-image.mjs"
for dir in "${NODE_DIRS[@]}"; do
  # a suite listed here without its package.json is broken, not pending: it fails
  setup "npm ci $dir" "" -- npm_ci "$dir"
done

# --- builds and static checks (the server serves web/dist, so the web app is built first) --
check "web build" "$LIMIT_SUITE" "npm ci web" -- "$ROOT/scripts/build.sh" web
check "cargo fmt" "$LIMIT_SUITE" rust -- cargo fmt --all -- --check
if [[ "$BUILD" == clippy+build ]]; then
  check_finish "$BUILD"
else
  check_finish "cargo clippy"
  check "$BUILD" "$LIMIT_RUST_BUILD" rust -- cargo build --workspace --all-targets
fi
setup_finish schemathesis
schemathesis_adopt

# --- test suites (the interop and browser tests start the debug server binary built above) --
# Two lanes: the browser tests (the longest suite; they mostly wait on Chromium, servers and
# timers, one file at a time) in the background, every other suite one after another in the
# foreground. Each suite's output is printed whole when it ends, the browser tests' last.
export TANDEM_BIN="${TANDEM_BIN:-$ROOT/target/debug/tandem}"
suite_start "browser e2e tests" node-jsonl "$LIMIT_SUITE" "npm ci tests/e2e,chromium,web build,$BUILD" -- npm test --prefix "$ROOT/tests/e2e"
suite "rust tests" "${RUST_TESTS[0]}" "$LIMIT_SUITE" "postgres,$BUILD,cargo-nextest" -- "${RUST_TESTS[@]:1}"
suite "web unit tests" vitest-json "$LIMIT_SUITE" "npm ci web" -- npm test --prefix "$ROOT/web" --
suite "interop tests" node-jsonl "$LIMIT_SUITE" "npm ci tests/interop,postgres,$BUILD" -- npm test --prefix "$ROOT/tests/interop"
suite "compose checks" node-jsonl "$LIMIT_SUITE" "npm ci tests/compose" -- npm test --prefix "$ROOT/tests/compose"
# schemathesis against a live server, from its GET /api/openapi.json: one test per operation.
if [[ -n "$SCHEMATHESIS_MISSING" && "$(result_of schemathesis)" == PASS ]]; then
  skip "api fuzz" "$SCHEMATHESIS_MISSING"
else
  suite "api fuzz" junit-arg "$LIMIT_SUITE" "schemathesis,$BUILD" -- "$ROOT/tests/api-fuzz/run.sh"
fi
# The dashboard and alerts against a live server, and the container image built and run with
# podman, on the Debian base made in the background since the setup.
setup_finish "base image"
suite "deploy checks" node-jsonl "$LIMIT_SUITE" "npm ci tests/deploy,web build,$BUILD" -- npm test --prefix "$ROOT/tests/deploy"
suite_finish "browser e2e tests"

summary
