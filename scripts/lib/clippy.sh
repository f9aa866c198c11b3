# shellcheck shell=bash
# Clippy inside the build, so the workspace is compiled once instead of twice.
#
# `cargo clippy` is `cargo check` with clippy-driver (rustc plus Clippy's lints) as the
# compiler of the workspace's own crates: it type-checks every dependency for metadata only,
# and `cargo build` then compiles them all again. Setting the same two variables that
# `cargo clippy` sets (RUSTC_WORKSPACE_WRAPPER, CLIPPY_ARGS) on `cargo build` lints the
# workspace while building it, from one compile of the dependencies. The test steps keep the
# variables, since cargo keys the workspace's artifacts by the wrapper and would otherwise
# rebuild them.
#
# CLIPPY_ARGS is how cargo-clippy hands its arguments to clippy-driver, not a documented
# interface, so clippy_in_build first proves on a one-line canary that a Clippy lint at warning
# level fails the compile under it. If not, the caller runs `cargo clippy` and `cargo build`
# as two steps: the lint is never weaker than `cargo clippy -- -D warnings`.

# clippy_in_build: exports RUSTC_WORKSPACE_WRAPPER and CLIPPY_ARGS and succeeds when the
# canary shows they deny Clippy's warnings; otherwise leaves the environment alone and fails.
clippy_in_build() {
  local driver dir out
  driver="$(command -v clippy-driver)" || return 1
  dir="$(mktemp -d "${TMPDIR:-/tmp}/tandem-clippy-canary.XXXXXX")"
  printf 'pub fn f() -> i32 {\n    return 1;\n}\n' >"$dir/canary.rs" # clippy::needless_return (warn)
  local args="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  out="$(CLIPPY_ARGS="$args" "$driver" rustc --edition 2021 --crate-type lib --emit=metadata \
    --out-dir "$dir" "$dir/canary.rs" 2>&1)" && { rm -rf "$dir"; return 1; } # must fail
  rm -rf "$dir"
  [[ "$out" == *needless_return* && "$out" == *"-D warnings"* ]] || return 1
  export RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="$args"
}
