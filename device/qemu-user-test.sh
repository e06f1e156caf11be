#!/usr/bin/env bash
# The test suite as board binaries: builds the library's unit tests and the integration tests
# for the board's architecture and runs each of them under QEMU user mode (cargo's `runner`):
#   device/qemu-user-test.sh [aarch64|armv7] [-- test-binary args, e.g. a name filter]
# Features: `demo` and `ui` (the Slint UI, which `desktop` would bring) without `desktop` (FEATURES=... to change): the simulated Entra/Graph run on
# loopback inside the emulated process; nothing needs hardware, a display or winit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
arch="${1:-aarch64}"
[ $# -gt 0 ] && shift
"$here/board-setup.sh" "$arch"
. "$here/cross-env.sh" "$arch"
cd "$here/.."

features="${FEATURES:-demo,ui}"
echo "qemu-user-test.sh: $("$RUSTC" --version), target $TRIPLE under $QEMU_USER, features $features"
start=$(date +%s)
# The emulated tests are several times slower than native ones; two test threads keep the
# shared 2-core CI machine responsive. The argument after `--` goes to the test binaries.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
# Each integration test links the whole app: with full debug info a dozen test binaries take
# ~8 GB, plus ~2 GB of incremental state. Line tables keep panic backtraces readable.
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Tests that start the app binary as a child process can't exec an aarch64 binary directly
# (no binfmt_misc here): point them at a wrapper that runs it under QEMU too.
target_dir="${CARGO_TARGET_DIR:-$CROSS_TARGET_DIR}"
wrapper="$target_dir/$TRIPLE/mfp-kiosk-under-qemu"
mkdir -p "$(dirname "$wrapper")"
runner_var="CARGO_TARGET_$(echo "$TRIPLE" | tr 'a-z-' 'A-Z_')_RUNNER"
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${!runner_var}" "$target_dir/$TRIPLE/debug/mfp-kiosk" > "$wrapper"
chmod +x "$wrapper"
export MFP_KIOSK_BIN="$wrapper"
# SANE is dlopened at run time and the cross sysroot carries no arm64 libsane: the SANE tests
# run on the host only.
export MFP_TESTS_WITHOUT_SANE=1
# Which test targets run as board binaries: the library's unit tests and the integration tests
# that exercise code whose behaviour can differ on the board (FFI and C libraries: libpcsclite,
# evdev structs, statvfs/flock/kill semantics, bundled SQLite; encoders and the software
# renderer; sealing and argon2), plus one end-to-end walk through the app. The other
# integration tests (HTTP flows against the simulators, config errors, CLI output, the
# service menu's logic) run on the host only: they would test the same Rust twice at a tenth
# of the speed. QEMU_TESTS=all runs every test target; QEMU_TESTS=lib the library's unit
# tests only; QEMU_TESTS="a b" those integration tests (and the unit tests).
default_tests="readers_pcsc readers_hid readers_wedge store_roundtrip file_modes upload_url_at_rest
  entra_token_at_rest scan_pdf ui_screenshot ui_adapter pin_and_offline outbox_crash outbox_race
  ui_flow"
case "${QEMU_TESTS:-}" in
  all) targets=(--tests) ;;
  lib) targets=() ;;
  "") read -r -a names <<<"$(echo $default_tests)"; targets=(); for t in "${names[@]}"; do targets+=(--test "$t"); done ;;
  *) read -r -a names <<<"$QEMU_TESTS"; targets=(); for t in "${names[@]}"; do targets+=(--test "$t"); done ;;
esac
nice -n "${NICE:-10}" "$CARGO" test --locked --target "$TRIPLE" --no-default-features --features "$features" \
  --lib "${targets[@]}" "$@"
echo "qemu-user-test.sh: passed in $(($(date +%s) - start)) s"
