#!/usr/bin/env bash
# Host set-up and the two entry points of the README, for a Debian 12 machine (run as root, or
# with sudo available):
#   device/host.sh demo   install what is needed, build, run the panel on its embedded demo default
#   device/host.sh test   install what is needed, run the whole test suite (what CI runs):
#                         host tests, then the aarch64 cross build, qemu-user tests, QEMU boot
#   device/host.sh armv7  the armv7 board build and the library's unit tests under qemu-arm
#                         (not in `test`: a cold armv7 build does not fit CI's time budget)
# Idempotent: packages already present are not reinstalled.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mfp-kiosk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Build and test dependencies from Debian:
#  - build-essential, pkg-config: C parts of -sys crates (bundled SQLite, ring)
#  - libfontconfig1-dev, libfreetype-dev, fonts-dejavu-core: font discovery and a font for the
#    software renderer (the panel and the screenshots draw text with it)
#  - libxkbcommon-dev, libwayland-dev, libx11-dev, libxcursor1, libxrandr2, libxi6, libgl1: the
#    desktop (winit) window of the demo
#  - libpcsclite-dev: the PC/SC badge reader links libpcsclite
APT_PACKAGES=(
  build-essential pkg-config curl ca-certificates git
  libpcsclite-dev
  libfontconfig1-dev libfreetype-dev fonts-dejavu-core
  libxkbcommon-dev libxkbcommon-x11-0 libwayland-dev libx11-dev libx11-xcb1 libxcursor1 libxrandr2 libxi6 libgl1
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "host.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_nextest() {
  # The host suite runs under cargo-nextest (.config/nextest.toml says why).
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "host.sh: installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

install_rust() {
  # Debian 12's own rustc is too old for Slint 1.18; use rustup's stable toolchain.
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "host.sh: installing the Rust toolchain with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if command -v rustup >/dev/null 2>&1; then
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  fi
}

cmd="${1:-}"
case "$cmd" in
  demo)
    install_packages
    install_rust
    shift
    exec cargo run --release -- --demo "$@"
    ;;
  test)
    install_packages
    install_rust
    # pcscd + the vpcd virtual reader driver for the PC/SC reader tests.
    device/ci-pcsc.sh
    # libsane1 with SANE's `test` backend for the scanner tests.
    device/ci-sane.sh
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- -D warnings
    install_nextest
    # Every test of the library, the binary and tests/ as its own process, scheduled across
    # binaries; CI=true reports every failure, not only the first. The benches have their own
    # `main` (harness = false), which nextest cannot list: cargo runs them at their small
    # smoke-test size, and builds the examples.
    profile=default
    case "${CI:-}" in "" | false | 0) ;; *) profile=ci ;; esac
    cargo nextest run --locked --profile "$profile" --lib --bins --tests
    cargo test --locked --benches --examples
    # Every fuzz target for a few seconds from its committed corpus (README, "Fuzzing").
    fuzz/smoke.sh
    # The board: aarch64 cross build, the tests as aarch64 binaries under qemu-user, and the
    # full-system boot of the kiosk image in qemu-system-aarch64 (README, "Board builds").
    # MFP_BOARD_TESTS=0 skips them for a quick host-only run.
    if [ "${MFP_BOARD_TESTS:-1}" != 0 ]; then
      device/cross-build.sh aarch64
      device/qemu-user-test.sh aarch64
      device/qemu/boot-test.sh
    fi
    ;;
  armv7)
    device/cross-build.sh armv7
    QEMU_TESTS="${QEMU_TESTS:-lib}" device/qemu-user-test.sh armv7
    ;;
  deps)
    install_packages
    install_rust
    ;;
  *)
    echo "usage: device/host.sh demo|test|armv7|deps" >&2
    exit 2
    ;;
esac
