#!/usr/bin/env bash
# The board build without Docker, with Debian's own Rust and cross gcc:
#   device/cross-build.sh [aarch64|armv7] [extra cargo args...]
# Builds `--release --no-default-features --features kiosk` (override with FEATURES=...) for the
# board and prints the path and size of the stripped binary. Output goes to
# ~/.cache/mfp-kiosk/target-cross (CROSS_TARGET_DIR), apart from the host builds' target dir.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
arch="${1:-aarch64}"
[ $# -gt 0 ] && shift
"$here/board-setup.sh" "$arch"
. "$here/cross-env.sh" "$arch"
cd "$here/.."

features="${FEATURES:-kiosk}"
echo "cross-build.sh: $("$RUSTC" --version), target $TRIPLE, features $features"
start=$(date +%s)
# build.rs passes it to the linker: which functions and data the bytes of the binary are.
export MFP_KIOSK_LINK_MAP="$CARGO_TARGET_DIR/$TRIPLE/release/mfp-kiosk.map"
# The board binary's size (the tests under qemu-user are built without these: their harness
# catches panics, so they unwind):
# - linked by lld (board-setup.sh installs lld-16) with packed relative relocations (DT_RELR,
#   glibc >= 2.36 as on the board's Debian 12): a PIE's R_*_RELATIVE table takes 24 bytes per
#   pointer in .rela.dyn (0.9 MB of the aarch64 binary), a RELR bitmap a few bytes in all; the
#   binary stays position-independent (ASLR). Debian 12's GNU ld (2.40) cannot do it on arm.
# - identical code folding, the variant that keeps functions whose address is taken apart.
# - no DWARF unwind tables (device/discard-unwind.ld and --no-eh-frame-hdr): the release
#   profile aborts on panic, nothing unwinds; dropping them took 1.0 MB off the aarch64
#   binary (measured, 16,663,408 -> 15,648,424 bytes; `-C force-unwind-tables=no` does not remove them: rustc gives every function a personality
#   routine, and LLVM writes an FDE for each). A panic still logs its message and location; a
#   RUST_BACKTRACE backtrace on the board stops at the first frame. Nothing in the process may
#   unwind through its frames: no pthread_exit/pthread_cancel (glibc's forced unwind would
#   abort), no C++ exceptions.
# - armv7: the crates built here (all but the prebuilt std) as Thumb-2 code, as Debian's armhf
#   compiles everything; Rust's armv7 target defaults to A32. ARMv7 interworks, so Thumb code
#   calls std's A32 functions and back. rustc warns that `thumb-mode` is not a stable
#   target feature (LLVM's, stable in practice: Rust's thumbv7neon target is this).
rustflags_var="CARGO_TARGET_$(echo "$TRIPLE" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
export "$rustflags_var=${!rustflags_var} -C link-arg=-B/usr/lib/llvm-16/bin -C link-arg=-fuse-ld=lld \
  -C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,--icf=safe \
  -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-T,$here/discard-unwind.ld"
if [ "$TRIPLE" = armv7-unknown-linux-gnueabihf ] && [ "${ARMV7_THUMB:-1}" = 1 ]; then
  export "$rustflags_var=${!rustflags_var} -C target-feature=+thumb-mode"
fi
nice -n "${NICE:-10}" "$CARGO" build --release --locked --target "$TRIPLE" \
  --no-default-features --features "$features" --bin mfp-kiosk "$@"
bin="$CARGO_TARGET_DIR/$TRIPLE/release/mfp-kiosk"
echo "cross-build.sh: built in $(($(date +%s) - start)) s"
echo "cross-build.sh: $bin"
file "$bin" 2>/dev/null || true
echo "cross-build.sh: size $(stat -c %s "$bin") bytes ($(du -h "$bin" | cut -f1), stripped by the release profile)"
# The shipped build only: its size, for device/bench.sh (the boot test's `kiosk,demo` build
# replaces the binary at the same path), and the install bundle for the board: the binary and
# what install.sh installs next to it.
if [ "$features" = kiosk ]; then
  stat -c %s "$bin" >"$bin.kiosk-size"
  version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
  name="mfp-kiosk-$version-$DEB_ARCH"
  stage="$CARGO_TARGET_DIR/$TRIPLE/release/$name"
  rm -rf "$stage" && mkdir -p "$stage"
  cp "$bin" device/install.sh device/mfp-kiosk.service device/mfp-kiosk.sysusers.conf \
    device/99-mfp-kiosk.rules device/50-mfp-kiosk-pcsc.rules device/kiosk.example.toml README.md \
    ui/fonts/NotoSansJP-Subset.otf ui/fonts/LICENSE-OFL.txt "$stage/"
  tar -C "$(dirname "$stage")" -czf "$stage.tar.gz" "$name"
  echo "cross-build.sh: bundle $stage.tar.gz ($(du -h "$stage.tar.gz" | cut -f1)); on the board: tar xzf, then sudo $name/install.sh"
fi
