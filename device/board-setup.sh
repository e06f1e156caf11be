#!/usr/bin/env bash
# Prepares this Debian 12 host for the board builds (run as root, or with sudo available):
#   device/board-setup.sh aarch64|armv7
# 1. installs Debian's Rust 1.96 (rustc-web, cargo-web from bookworm-security) with the target's
#    std (libstd-rust-web-dev:<arch> of exactly that version; from security.debian.org itself
#    when the configured mirror's index lacks it), the cross gcc and QEMU (user mode and system
#    emulation);
# 2. builds the target sysroot from Debian packages without installing them: it
#    `apt-get download`s the -dev packages the kiosk binary links against and the runtime libraries,
# data and fonts they need, and unpacks them with `dpkg -x` into $SYSROOT
# (~/.cache/mfp-kiosk/sysroot-<debarch>). Installing libinput-dev:<arch> through multiarch would
# pull a dependency chain that conflicts with the host's python3; a private sysroot avoids that
# and leaves the host's dpkg state alone (apart from the foreign architecture in its index).
#
# The same tree is what the QEMU user-mode runs use as their root (-L) and where the boot test
# takes the shared libraries, fontconfig files, fonts and keymaps of its initramfs from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/cross-env.sh" "${1:-aarch64}"

# Link time: what the kiosk feature's -sys crates ask pkg-config/the linker for
# (fontconfig via fontique, libinput/libudev/xkbcommon via Slint's linuxkms backend).
DEV_PACKAGES=(
  libfontconfig-dev libfreetype-dev libexpat1-dev libpng-dev zlib1g-dev libbrotli-dev
  libinput-dev libudev-dev libxkbcommon-dev libmtdev-dev libevdev-dev libwacom-dev
  libpcsclite-dev
)
# Run time: the shared libraries behind them (the whole NEEDED closure, checked below) and the
# data they read: fontconfig's /etc/fonts, a font, XKB keymaps, libinput's device quirks.
RUNTIME_PACKAGES=(
  libc6 libgcc-s1 libstdc++6 libpcsclite1
  libfontconfig1 fontconfig-config fonts-dejavu-core libfreetype6 libexpat1 libpng16-16 zlib1g libbrotli1
  libinput10 libinput-bin libudev1 libxkbcommon0 xkb-data libmtdev1 libevdev2
  libwacom9 libwacom-common libgudev-1.0-0 libglib2.0-0 libffi8 libpcre2-8-0 libmount1 libblkid1 libselinux1
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# kmod (depmod, modinfo) and cpio build the boot test's initramfs. lld-16 links the board
# binary (cross-build.sh): Debian 12's GNU ld (2.40) cannot pack relative relocations on arm.
HOST_PACKAGES=(
  rustc-web cargo-web "gcc-$GNU_TRIPLE" "libc6-dev-$DEB_ARCH-cross"
  pkg-config file qemu-user qemu-system-arm kmod cpio lld-16
)
if ! dpkg --print-foreign-architectures | grep -qx "$DEB_ARCH"; then
  as_root dpkg --add-architecture "$DEB_ARCH"
  as_root apt-get update -qq
fi
missing=()
for p in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "board-setup.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The target's std must be the very version of the host's rustc-web (another one is a
# different compiler's metadata: "found crate `std` compiled by an incompatible version").
# Asked for by version, so a mirror whose <arch> index of bookworm-security is missing or
# broken (seen for armhf: "File has unexpected size ... Mirror sync in progress?") fails
# here instead of installing bookworm's 1.85 std; then the same suite comes straight from
# security.debian.org (signed by the same archive key) for this one install.
std_pkg="libstd-rust-web-dev:$DEB_ARCH"
rust_deb="$(dpkg-query -W -f='${Version}' rustc-web)"
if [ "$(dpkg-query -W -f='${Version}' "$std_pkg" 2>/dev/null || true)" != "$rust_deb" ]; then
  echo "board-setup.sh: installing $std_pkg=$rust_deb"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$std_pkg=$rust_deb"; then
    echo "board-setup.sh: $std_pkg $rust_deb is not in the configured mirror's index; trying security.debian.org" >&2
    src="$(mktemp -d)"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.debian.org/debian-security bookworm-security main" >"$src/security.list"
    apt_sec=(-o "Dir::Etc::SourceList=$src/security.list" -o "Dir::Etc::SourceParts=$src/none" -o APT::Get::List-Cleanup=0)
    as_root apt-get "${apt_sec[@]}" update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${apt_sec[@]}" install -y -qq --no-install-recommends "$std_pkg=$rust_deb"
    rm -rf "$src"
  fi
fi

# The crate needs rustc >= 1.95 (rusqlite_migration 2.6; Slint 1.18 needs 1.92): bookworm's own
# rustc-web is 1.85, the 1.96 build comes from bookworm-security.
rust_minor="$("$RUSTC" --version | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')"
if [ -z "$rust_minor" ] || [ "$rust_minor" -lt 95 ]; then
  echo "board-setup.sh: $RUSTC is $("$RUSTC" --version); need >= 1.95 (is bookworm-security in the apt sources?)" >&2
  exit 1
fi
if [ ! -d "$("$RUSTC" --print sysroot)/lib/rustlib/$TRIPLE/lib" ]; then
  echo "board-setup.sh: $RUSTC has no std for $TRIPLE (Debian: libstd-rust-web-dev:$DEB_ARCH)" >&2
  exit 1
fi

stamp="$SYSROOT/.mfp-sysroot"
want="$(printf '%s\n' "${DEV_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" | sort | tr '\n' ' ')"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "board-setup.sh: $SYSROOT is up to date"
  exit 0
fi

debs="$MFP_CACHE/debs-$DEB_ARCH"
mkdir -p "$debs"
# Architecture-independent packages (fonts, xkb-data, *-common) have no :<arch> variant.
all_arch=" $(apt-cache show --no-all-versions "${DEV_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" |
  awk '/^Package: /{p=$2} /^Architecture: all/{printf "%s ", p}') "
pkgs=()
for p in "${DEV_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"; do
  case "$all_arch" in
    *" $p "*) pkgs+=("$p") ;;
    *) pkgs+=("$p:$DEB_ARCH") ;;
  esac
done
# As root, apt drops to the _apt user for downloads, which cannot write under root's home.
(cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${pkgs[@]}" >/dev/null)

rm -rf "$SYSROOT.new"
mkdir -p "$SYSROOT.new"
# Only the newest downloaded version of each package (the cache keeps old ones after updates).
for p in "${DEV_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"; do
  deb="$(ls -t "$debs/${p}_"*"_"{"$DEB_ARCH",all}.deb 2>/dev/null | head -1 || true)"
  [ -n "$deb" ] || { echo "board-setup.sh: no .deb for $p in $debs" >&2; exit 1; }
  dpkg -x "$deb" "$SYSROOT.new"
done

# Debian's .so links are often absolute (/lib/<triple>/libfoo.so.1): point them into the sysroot,
# or the cross linker would follow them to the host's files (or to nothing). libc and its
# headers come from the cross toolchain (libc6-dev-<arch>-cross), the same glibc as libc6 here.
find "$SYSROOT.new" -type l | while read -r link; do
  target="$(readlink "$link")"
  case "$target" in
    /*) ln -sfn "$SYSROOT${target}" "$link" ;;
  esac
done
rm -rf "$SYSROOT"
mv "$SYSROOT.new" "$SYSROOT"
echo "$want" >"$stamp"
echo "board-setup.sh: $SYSROOT ready ($(du -sh "$SYSROOT" | cut -f1))"
