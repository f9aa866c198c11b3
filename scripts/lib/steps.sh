# shellcheck shell=bash
# Steps of scripts/test.sh and the test totals. Sourced; expects ROOT, RUN_START and REPORTS.
#
# A step is a setup, a check or a suite:
#   setup  prepares something (a failure fails the suites that need it, and counts once);
#   check  a command whose exit status is the result (fmt, clippy, a build): counts only when
#          it fails;
#   suite  runs tests and leaves a machine-readable report; every test in it is counted.
# The totals are tests: passed and skipped come from the reports; failed adds the failed tests
# and every failed setup or check, a suite that could not run, and a suite that exited
# non-zero without reporting a failed test (a crash or a timeout).

BOLD="" PLAIN=""
if [[ -t 1 ]]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; fi # no colour codes in log files
banner() { # with the time since the start, so slow steps are easy to spot in CI logs
  local t=$((SECONDS - RUN_START))
  printf '\n%s==== %s ====%s [+%dm%02ds]\n' "$BOLD" "$*" "$PLAIN" $((t / 60)) $((t % 60))
}
note() { printf -- '--> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
err() { printf 'ERROR: %s\n' "$*" >&2; }

on_ci() { [[ "${CI:-}" == true || "${CI:-}" == 1 ]]; }

STEP_NAMES=() STEP_RESULTS=() STEP_SECONDS=() STEP_NOTES=()
TESTS_PASSED=0 TESTS_FAILED=0 TESTS_SKIPPED=0
TEST_LINES=() # "SKIP suite: test: reason" / "FAIL ...", for the summary

record() { # record NAME RESULT SECONDS NOTE
  STEP_NAMES+=("$1") STEP_RESULTS+=("$2") STEP_SECONDS+=("$3") STEP_NOTES+=("$4")
}

result_of() { # result_of NAME -> PASS / FAIL / SKIP, or nothing if the step has not run
  local i
  for i in "${!STEP_NAMES[@]}"; do
    [[ "${STEP_NAMES[$i]}" == "$1" ]] && printf '%s' "${STEP_RESULTS[$i]}" && return
  done
}

MISSING_DEP=""
needs() { # needs "STEP,STEP..." -> succeeds when every listed step passed
  local dep r deps
  IFS=, read -r -a deps <<<"$1"
  for dep in "${deps[@]}"; do
    r="$(result_of "$dep")"
    [[ "$r" == PASS ]] || { MISSING_DEP="$dep (${r:-not run})" && return 1; }
  done
}

# not_run NAME: a step whose dependency did not pass. After a skipped dependency (a project
# not written yet) it is skipped too; otherwise it failed.
not_run() {
  if [[ "$MISSING_DEP" == *"(SKIP)" ]] && ! on_ci; then
    record "$1" SKIP 0 "$RUN_NOTE"
    TESTS_SKIPPED=$((TESTS_SKIPPED + 1))
    TEST_LINES+=("SKIP $1: $RUN_NOTE")
  else
    record "$1" FAIL 0 "$RUN_NOTE"
    fail_one "$1" "$RUN_NOTE"
  fi
}

fail_one() { # fail_one NAME NOTE: a step failure that counts as one failed test
  TESTS_FAILED=$((TESTS_FAILED + 1))
  TEST_LINES+=("FAIL $1: $2")
}

# run NAME LIMIT DEPS -- COMMAND...: COMMAND's exit status, under a time limit in seconds
# ("-" runs COMMAND in this shell, for setup functions that export variables). Sets RUN_RC.
run() {
  local name="$1" limit="$2" deps="$3"
  shift 3
  [[ "$1" == "--" ]] && shift
  banner "$name"
  RUN_RC=0 RUN_NOTE="" RUN_TOOK=0
  if [[ -n "$deps" ]] && ! needs "$deps"; then
    warn "$name not run: it needs $MISSING_DEP"
    RUN_RC=-1 RUN_NOTE="not run: needs $MISSING_DEP"
    return 0
  fi
  local start=$SECONDS
  if [[ "$limit" == "-" ]]; then
    "$@" || RUN_RC=$?
  else
    timeout --kill-after=15 "$limit" "$@" || RUN_RC=$?
  fi
  RUN_TOOK=$((SECONDS - start))
  if [[ "$limit" != "-" && ($RUN_RC -eq 124 || $RUN_RC -eq 137) ]]; then
    RUN_NOTE="timed out after ${limit}s"
  elif [[ $RUN_RC -ne 0 ]]; then
    RUN_NOTE="exit status $RUN_RC"
  fi
  [[ $RUN_RC -eq 0 ]] || err "$name: $RUN_NOTE"
}

# setup NAME DEPS -- COMMAND... and check NAME LIMIT DEPS -- COMMAND...
setup() {
  local name="$1" deps="$2"
  shift 2
  run "$name" - "$deps" "$@"
  record_setup "$name"
}
record_setup() { # record_setup NAME: the result of a setup that ran (RUN_RC, RUN_NOTE, RUN_TOOK)
  if [[ $RUN_RC -eq -1 ]]; then not_run "$1"; return 0; fi
  if [[ $RUN_RC -eq 0 ]]; then record "$1" PASS "$RUN_TOOK" "setup"; else
    record "$1" FAIL "$RUN_TOOK" "setup: $RUN_NOTE"
    fail_one "$1" "setup $RUN_NOTE"
  fi
}
check() {
  local name="$1"
  shift
  run "$name" "$@"
  record_check "$name"
}
record_check() { # record_check NAME: the result of a check that ran
  if [[ $RUN_RC -eq -1 ]]; then not_run "$1"; return 0; fi
  if [[ $RUN_RC -eq 0 ]]; then record "$1" PASS "$RUN_TOOK" "check"; else
    record "$1" FAIL "$RUN_TOOK" "check: $RUN_NOTE"
    fail_one "$1" "$RUN_NOTE"
  fi
}

# skip NAME REASON: a step that cannot apply; one skip, and on CI (where everything must run)
# one failure.
skip() {
  banner "$1"
  if on_ci; then
    err "$1 skipped on CI: $2"
    record "$1" FAIL 0 "skipped on CI: $2"
    fail_one "$1" "skipped on CI: $2"
    return 0
  fi
  warn "$1 skipped: $2"
  record "$1" SKIP 0 "$2"
  TESTS_SKIPPED=$((TESTS_SKIPPED + 1))
  TEST_LINES+=("SKIP $1: $2")
}

# suite NAME FORMAT LIMIT DEPS -- COMMAND...: runs a test suite with a reporter that leaves a
# report in $REPORTS, then counts its tests. FORMAT says how the report is made and read:
#   node-jsonl   node's test runner (`node --test`), through scripts/lib/node-test-reporter.mjs
#   vitest-json  vitest: COMMAND gets `--reporter=json --outputFile.json=...` appended
#   junit        cargo-nextest with the `test-sh` profile (.config/nextest.toml)
#   junit-arg    any JUnit XML writer: COMMAND gets the report's path as its last argument
#   cargo-test-log  plain `cargo test`: its output is kept and its totals read
suite() {
  local name="$1" format="$2" limit="$3" deps="$4"
  shift 4
  [[ "$1" == "--" ]] && shift
  suite_command "$name" "$format" "$@"
  run "$name" "$limit" "$deps" -- "${SUITE_CMD[@]}"
  if [[ $RUN_RC -eq -1 ]]; then not_run "$name"; return 0; fi
  suite_count "$name" "$format" "$SUITE_REPORT"
}

# suite_command NAME FORMAT COMMAND...: sets SUITE_CMD (COMMAND with its reporter) and
# SUITE_REPORT (where the report will be), and removes any old report.
suite_command() {
  local name="$1" format="$2"
  shift 2
  local report="$REPORTS/${name// /-}"
  SUITE_CMD=("$@")
  case "$format" in
    node-jsonl)
      report+=.jsonl
      local reporter="$ROOT/scripts/lib/node-test-reporter.mjs"
      SUITE_CMD=(env "NODE_OPTIONS=${NODE_OPTIONS:-} --test-reporter=spec --test-reporter-destination=stdout --test-reporter=$reporter --test-reporter-destination=$report" "$@")
      ;;
    vitest-json)
      report+=.json
      SUITE_CMD+=(--reporter=default --reporter=json "--outputFile.json=$report")
      ;;
    junit)
      report="$ROOT/target/nextest/test-sh/junit.xml"
      ;;
    junit-arg)
      report+=.xml
      SUITE_CMD+=("$report")
      ;;
    cargo-test-log)
      report+=.log
      SUITE_CMD=(bash -c '"$@" 2>&1 | tee "$0"; exit "${PIPESTATUS[0]}"' "$report" "$@")
      ;;
  esac
  rm -f "$report"
  SUITE_REPORT="$report"
}

# suite_count NAME FORMAT REPORT: counts the tests of a suite that ran (RUN_RC, RUN_NOTE and
# RUN_TOOK describe the run) and records the suite's result.
suite_count() {
  local name="$1" format="$2" report="$3"
  local out counts p f s line
  out="$(cd "$ROOT" && node "$ROOT/scripts/lib/count-tests.mjs" "$format" "$report")" || out="COUNTS 0 1 0"
  counts="$(tail -n 1 <<<"$out")"
  read -r _ p f s <<<"$counts"
  while IFS= read -r line; do
    [[ "$line" == COUNTS* || -z "$line" ]] || TEST_LINES+=("${line%% *} $name: ${line#* }")
  done <<<"$out"
  TESTS_PASSED=$((TESTS_PASSED + p)) TESTS_FAILED=$((TESTS_FAILED + f)) TESTS_SKIPPED=$((TESTS_SKIPPED + s))
  local summary="$p passed, $f failed, $s skipped"
  if [[ $RUN_RC -ne 0 && $f -eq 0 ]]; then # a crash or timeout that no test reported
    fail_one "$name" "$RUN_NOTE with no failed test reported"
    summary+="; $RUN_NOTE"
  elif [[ $RUN_RC -eq 0 && $((p + f + s)) -eq 0 ]]; then
    fail_one "$name" "ran no tests"
    summary+="; ran no tests"
  fi
  if [[ $RUN_RC -eq 0 && $f -eq 0 && $((p + f + s)) -gt 0 ]]; then
    record "$name" PASS "$RUN_TOOK" "$summary"
  else
    record "$name" FAIL "$RUN_TOOK" "$summary"
  fi
}

# Steps in the background: STEP_start runs a step while the next ones run in the foreground;
# its output goes to a log, printed whole by STEP_finish NAME (which records the result), so
# the logs of parallel steps never interleave and each step's result is counted once, as in
# the foreground. For steps that mostly wait (downloads, browsers, servers, timers) or that
# keep a core busy while the foreground waits.
#   setup_start NAME DEPS -- COMMAND...          / setup_finish NAME
#   check_start NAME LIMIT DEPS -- COMMAND...    / check_finish NAME
#   suite_start NAME FORMAT LIMIT DEPS -- COMMAND... / suite_finish NAME
# COMMAND may be a shell function; it runs in a subshell, so what it exports is lost (a setup
# whose variables later steps need is finished by a foreground step that sets them).
declare -A BG_PID=() BG_KIND=() BG_FORMAT=() BG_REPORT=() BG_DIR=() BG_NOTE=() BG_MISSING=() BG_LIMIT=()

# bg_start KIND NAME LIMIT DEPS -- COMMAND...
bg_start() {
  local kind="$1" name="$2" limit="$3" deps="$4"
  shift 4
  [[ "$1" == "--" ]] && shift
  BG_KIND[$name]="$kind" BG_NOTE[$name]="" BG_LIMIT[$name]="$limit"
  if [[ -n "$deps" ]] && ! needs "$deps"; then
    BG_NOTE[$name]="not run: needs $MISSING_DEP" BG_MISSING[$name]="$MISSING_DEP"
    return 0
  fi
  local dir="$TMP_ROOT/bg-${name//[^A-Za-z0-9]/-}"
  mkdir -p "$dir"
  BG_DIR[$name]="$dir"
  note "$name: started in the background (its output follows when it ends)"
  (
    start=$SECONDS rc=0
    if [[ "$limit" == "-" ]]; then
      ("$@") >"$dir/log" 2>&1 </dev/null &
    else # timeout runs COMMAND in its own process group and kills all of it
      timeout --kill-after=15 "$limit" "$@" >"$dir/log" 2>&1 </dev/null &
    fi
    echo $! >"$dir/pid"
    wait $! || rc=$?
    echo "$rc $((SECONDS - start))" >"$dir/result"
  ) &
  BG_PID[$name]=$!
}

# bg_wait NAME: waits for the step, prints its banner and log; sets RUN_RC, RUN_TOOK and
# RUN_NOTE as `run` does (RUN_RC=-1 when a dependency had not passed).
bg_wait() {
  local name="$1"
  banner "$name"
  RUN_RC=0 RUN_TOOK=0 RUN_NOTE=""
  if [[ -n "${BG_NOTE[$name]}" ]]; then
    warn "$name not run: ${BG_NOTE[$name]#not run: }"
    RUN_RC=-1 RUN_NOTE="${BG_NOTE[$name]}" MISSING_DEP="${BG_MISSING[$name]}"
    return 0
  fi
  local dir="${BG_DIR[$name]}" rc took
  wait "${BG_PID[$name]}" || true
  unset "BG_PID[$name]"
  cat "$dir/log"
  read -r rc took <"$dir/result" || { rc=1 took=0; }
  RUN_RC=$rc RUN_TOOK=$took
  note "$name took ${took}s (in the background)"
  if [[ "${BG_LIMIT[$name]}" != "-" && ($rc -eq 124 || $rc -eq 137) ]]; then
    RUN_NOTE="timed out after ${BG_LIMIT[$name]}s"
  elif [[ $rc -ne 0 ]]; then
    RUN_NOTE="exit status $rc"
  fi
  [[ $rc -eq 0 ]] || err "$name: $RUN_NOTE"
}

setup_start() { local name="$1" deps="$2"; shift 2; bg_start setup "$name" - "$deps" "$@"; }
check_start() { local name="$1" limit="$2" deps="$3"; shift 3; bg_start check "$name" "$limit" "$deps" "$@"; }
suite_start() {
  local name="$1" format="$2" limit="$3" deps="$4"
  shift 4
  [[ "$1" == "--" ]] && shift
  suite_command "$name" "$format" "$@"
  BG_FORMAT[$name]="$format" BG_REPORT[$name]="$SUITE_REPORT"
  bg_start suite "$name" "$limit" "$deps" -- "${SUITE_CMD[@]}"
}

setup_finish() { bg_wait "$1" && record_setup "$1"; }
check_finish() { bg_wait "$1" && record_check "$1"; }
suite_finish() {
  local name="$1"
  bg_wait "$name"
  if [[ $RUN_RC -eq -1 ]]; then not_run "$name"; return 0; fi
  suite_count "$name" "${BG_FORMAT[$name]}" "${BG_REPORT[$name]}"
}

# stop_background: ends the steps still running (on an interrupted run).
stop_background() {
  local name
  for name in "${!BG_PID[@]}"; do
    [[ -f "${BG_DIR[$name]}/pid" ]] && { kill -TERM "$(cat "${BG_DIR[$name]}/pid")" 2>/dev/null || true; }
    wait "${BG_PID[$name]}" 2>/dev/null || true
  done
}

# summary: the table of steps, every skipped and failed test with its reason, and last the line
# `N passed, N failed, N skipped`. Returns non-zero when anything failed.
summary() {
  banner "Summary"
  local i t=$((SECONDS - RUN_START))
  printf '%-22s %-6s %6s  %s\n' STEP RESULT TIME NOTE
  for i in "${!STEP_NAMES[@]}"; do
    printf '%-22s %-6s %5ss  %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}" "${STEP_NOTES[$i]}"
  done
  if [[ ${#INSTALLED_PACKAGES[@]} -gt 0 ]]; then
    printf '\nSystem packages installed by this run:\n'
    printf '  %s\n' "${INSTALLED_PACKAGES[@]}"
  fi
  local kind
  for kind in SKIP FAIL; do
    local shown=""
    for i in "${!TEST_LINES[@]}"; do
      [[ "${TEST_LINES[$i]}" == "$kind "* ]] || continue
      [[ -n "$shown" ]] || printf '\n%s\n' "$([[ $kind == SKIP ]] && echo 'Skipped tests:' || echo 'Failed:')"
      shown=1
      printf '  %s\n' "${TEST_LINES[$i]#* }"
    done
  done
  printf '\ntotal time %dm%02ds\n' $((t / 60)) $((t % 60))
  printf '%d passed, %d failed, %d skipped\n' "$TESTS_PASSED" "$TESTS_FAILED" "$TESTS_SKIPPED"
  [[ $TESTS_FAILED -eq 0 ]]
}
