# Sourced by the board scripts (board-setup.sh, cross-build.sh, qemu-user-test.sh, qemu/boot-test.sh): the
# settings of a cross build with Debian's own Rust, without Docker.
#
#   . device/cross-env.sh aarch64|armv7
#
# Sets TRIPLE (Rust target), DEB_ARCH, GNU_TRIPLE, SYSROOT, CARGO (Debian's cargo), a separate
# CARGO_TARGET_DIR, and the CARGO_TARGET_<TRIPLE>_* / PKG_CONFIG_* / CC_* variables that point
# the linker, pkg-config and the C parts of -sys crates at the target's libraries. Env vars win
# over .cargo/config.toml, so the checked-in config stays the plain multiarch default.

board_arch="${1:-aarch64}"
case "$board_arch" in
  aarch64 | arm64)
    TRIPLE=aarch64-unknown-linux-gnu
    DEB_ARCH=arm64
    GNU_TRIPLE=aarch64-linux-gnu
    QEMU_USER=qemu-aarch64
    ;;
  armv7 | armhf)
    TRIPLE=armv7-unknown-linux-gnueabihf
    DEB_ARCH=armhf
    GNU_TRIPLE=arm-linux-gnueabihf
    QEMU_USER=qemu-arm
    ;;
  *)
    echo "unknown board architecture \`$board_arch\`: use aarch64 or armv7" >&2
    return 2 2>/dev/null || exit 2
    ;;
esac
unset board_arch

MFP_CACHE="${MFP_CACHE:-$HOME/.cache/mfp-kiosk}"
SYSROOT="$MFP_CACHE/sysroot-$DEB_ARCH"
# Debian's rustc/cargo (rustc-web, cargo-web): they have the target's std from
# libstd-rust-web-dev:<arch>; rustup's toolchain on this host has no std for the board.
# BOARD_CARGO/BOARD_RUSTC/BOARD_RUSTDOC point elsewhere, e.g. at a rustup toolchain that has
# the target (`rustup target add`; then also set CROSS_TARGET_DIR to a directory of its own).
CARGO="${BOARD_CARGO:-/usr/bin/cargo}"
export RUSTC="${BOARD_RUSTC:-/usr/bin/rustc}"
export RUSTDOC="${BOARD_RUSTDOC:-/usr/bin/rustdoc}"
# Debian's rustc must not share a target dir with rustup's (different compiler, different
# metadata hashes: it would just rebuild everything each time one or the other runs).
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-$MFP_CACHE/target-cross}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

triple_env="$(echo "$TRIPLE" | tr 'a-z-' 'A-Z_')"
triple_cc="$(echo "$TRIPLE" | tr '-' '_')"
libdirs="$SYSROOT/lib/$GNU_TRIPLE:$SYSROOT/usr/lib/$GNU_TRIPLE"

export "CARGO_TARGET_${triple_env}_LINKER=$GNU_TRIPLE-gcc"
# -rpath-link: the linker resolves the libraries' own dependencies (libinput -> libudev, libwacom,
# glib ...) inside the sysroot; nothing of it ends up in the binary.
export "CARGO_TARGET_${triple_env}_RUSTFLAGS=-L native=$SYSROOT/usr/lib/$GNU_TRIPLE -C link-arg=-Wl,-rpath-link,$SYSROOT/lib/$GNU_TRIPLE -C link-arg=-Wl,-rpath-link,$SYSROOT/usr/lib/$GNU_TRIPLE"
# The sysroot carries Debian's own libc6 for the target, so its ld.so and every library come
# from one place; LD_LIBRARY_PATH is interpreted inside the emulated process (under -L).
export "CARGO_TARGET_${triple_env}_RUNNER=$QEMU_USER -L $SYSROOT -E LD_LIBRARY_PATH=/lib/$GNU_TRIPLE:/usr/lib/$GNU_TRIPLE"
export "CC_${triple_cc}=$GNU_TRIPLE-gcc"
export "AR_${triple_cc}=$GNU_TRIPLE-ar"
export PKG_CONFIG_ALLOW_CROSS=1
export "PKG_CONFIG_SYSROOT_DIR_${triple_cc}=$SYSROOT"
export "PKG_CONFIG_LIBDIR_${triple_cc}=$SYSROOT/usr/lib/$GNU_TRIPLE/pkgconfig:$SYSROOT/usr/share/pkgconfig"
unset triple_env triple_cc libdirs
