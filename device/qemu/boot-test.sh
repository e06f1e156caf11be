#!/usr/bin/env bash
# Full-system boot test of the board image in QEMU (aarch64, TCG: no KVM needed):
#   device/qemu/boot-test.sh            build what is missing, boot, test, tear down
#   KEEP_IMAGE=1 device/qemu/boot-test.sh   also keep the initramfs tree for inspection
#
# 1. builds the kiosk for aarch64 with features kiosk,demo (device/cross-build.sh), so the
#    simulated Entra ID and Graph run inside the guest on loopback, and the reference app
#    examples/boot_minimal.rs (a minimal Slint window) in the same cargo run, same features;
# 2. makes an initramfs of our own: busybox, Debian's arm64 kernel modules for virtio-gpu,
#    virtio-input and virtio-rng, systemd-udevd with Debian's rules plus device/99-mfp-kiosk.rules,
#    the kiosk binary and its shared libraries, fontconfig files, a font, XKB keymaps, the files
#    device/install.sh installs, and a demo config with automatic device-code approval;
# 3. boots Debian's arm64 kernel with it in `qemu-system-aarch64 -M virt` with a virtio GPU, a
#    virtio keyboard and QMP; /init starts the kiosk the way device/mfp-kiosk.service does
#    (its ExecStart= and Environment=, as user mfp-kiosk with the unit's supplementary groups);
# 4. /init first starts the minimal app, then the panel as the board runs it (no simulated cloud
#    in the process, directory sync off, a state directory of its own), one after the other,
#    each until its first frame and then until it idles; the test prints their start-up times
#    and idle RSS with the panel/minimal ratios, as SUMMARY rows (device/bench.sh's format, also
#    in device/qemu/out/summary.tsv);
# 5. waits for the demo kiosk's "first frame" log line, takes a QMP screendump and checks it (size,
#    not blank), types a badge number and Enter into the virtio keyboard with QMP
#    input-send-event into the keyboard the kiosk grabbed as its keyboard-wedge (HID) reader,
#    checks the serial log for that reader's read, the lookup of the unknown badge, the
#    device-code sign-in (approved by the simulator after 2 s) and no failure, takes a second
#    screendump and checks the panel left the idle page; then touches "Sign out" (virtio
#    tablet) and taps the badge again: sign-in by the now linked card, without Microsoft.
# Artifacts: device/qemu/out/ (serial log, screendumps, summary.tsv). Bounded by BOOT_TIMEOUT (default
# 600 s for the whole boot and test); QEMU is always stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$here/out"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-600}"
BADGE="${BADGE:-4711004242}"
WIDTH=1024
HEIGHT=600
# Centre of the home page's "Sign out" button at 1024x600 (ui/pages/home.slint).
SIGN_OUT_XY="916 112"

log() { echo "boot-test: $*"; }
die() { echo "boot-test: FAIL: $*" >&2; exit 1; }

# --- 1. the kiosk binary --------------------------------------------------------------------
# KIOSK_BIN=path skips the build (a binary built elsewhere with features kiosk,demo; then
# MINIMAL_BIN=path too, the boot_minimal example built the same way).
if [ -z "${KIOSK_BIN:-}" ]; then
  FEATURES=kiosk,demo "$repo/device/cross-build.sh" aarch64 --example boot_minimal
fi
. "$repo/device/cross-env.sh" aarch64
kiosk_bin="${KIOSK_BIN:-$CARGO_TARGET_DIR/$TRIPLE/release/mfp-kiosk}"
minimal_bin="${MINIMAL_BIN:-$CARGO_TARGET_DIR/$TRIPLE/release/examples/boot_minimal}"
[ -f "$minimal_bin" ] || die "no reference app at $minimal_bin (MINIMAL_BIN=...)"

# --- 2. the image's packages ----------------------------------------------------------------
debs="$MFP_CACHE/debs-$DEB_ARCH"
kpkg="$(apt-cache depends "linux-image-$DEB_ARCH:$DEB_ARCH" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^:]*\).*/\1/p' | head -1)"
[ -n "$kpkg" ] || die "cannot find Debian's current linux-image for $DEB_ARCH (apt-get update?)"
KVER="${kpkg#linux-image-}"
IMAGE_PACKAGES=("$kpkg" busybox-static udev libkmod2 libacl1 libcap2 liblzma5 libzstd1 libssl3)
imgroot="$MFP_CACHE/imageroot-$DEB_ARCH"
stamp="$imgroot/.mfp-imageroot"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${IMAGE_PACKAGES[*]}" ]; then
  log "downloading ${IMAGE_PACKAGES[*]}"
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${IMAGE_PACKAGES[@]/%/:$DEB_ARCH}" >/dev/null)
  rm -rf "$imgroot" && mkdir -p "$imgroot"
  for p in "${IMAGE_PACKAGES[@]}"; do
    deb="$(ls -t "$debs/${p}_"*"_$DEB_ARCH.deb" | head -1)"
    dpkg -x "$deb" "$imgroot"
  done
  # Absolute links (/lib/systemd/systemd-udevd -> /bin/udevadm) must stay inside this tree.
  find "$imgroot" -type l | while read -r link; do
    target="$(readlink "$link")"
    case "$target" in /*) ln -sfn "$imgroot$target" "$link" ;; esac
  done
  echo "${IMAGE_PACKAGES[*]}" >"$stamp"
fi
kernel="$imgroot/boot/vmlinuz-$KVER"
[ -f "$kernel" ] || die "no kernel at $kernel"

# --- 3. the initramfs -----------------------------------------------------------------------
work="$MFP_CACHE/boot-$DEB_ARCH"
root="$work/initramfs"
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,tmp,etc,root,var/lib,lib/"$GNU_TRIPLE",usr/bin,usr/share}
chmod 1777 "$root/tmp"

cp "$imgroot/bin/busybox" "$root/bin/busybox"

# Shared libraries: the NEEDED closure of an ELF file, looked up in the sysroot and imageroot.
declare -A copied=()
copy_libs() {
  local elf="$1" lib src
  for lib in $(readelf -d "$elf" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -n "${copied[$lib]:-}" ] && continue
    src=""
    for dir in "$SYSROOT/lib/$GNU_TRIPLE" "$SYSROOT/usr/lib/$GNU_TRIPLE" "$imgroot/lib/$GNU_TRIPLE" "$imgroot/usr/lib/$GNU_TRIPLE" "$imgroot/lib/systemd"; do
      [ -e "$dir/$lib" ] && { src="$dir/$lib"; break; }
    done
    [ -n "$src" ] || die "shared library $lib (needed by $(basename "$elf")) is in neither sysroot"
    cp -L "$src" "$root/lib/$GNU_TRIPLE/$lib"
    copied[$lib]=1
    copy_libs "$src"
  done
}
cp -L "$SYSROOT/lib/$GNU_TRIPLE/ld-linux-aarch64.so.1" "$root/lib/ld-linux-aarch64.so.1"

# The files the board gets from install.sh (binary, unit, udev rules, polkit rule, sysusers).
"$repo/device/install.sh" --root "$root" --binary "$kiosk_bin" >/dev/null
copy_libs "$root/usr/bin/mfp-kiosk"
# The reference app of the idle figures (/init measures it before the panel).
install -m 0755 "$minimal_bin" "$root/usr/bin/boot-minimal"
copy_libs "$root/usr/bin/boot-minimal"

# systemd-udevd (Debian's rules set the input/video/render groups; libinput only takes devices
# that udev initialised and tagged ID_INPUT=1).
mkdir -p "$root/lib/systemd" "$root/lib/udev/rules.d" "$root/etc/udev"
cp -L "$imgroot/lib/systemd/systemd-udevd" "$root/lib/systemd/"
cp -L "$imgroot/bin/udevadm" "$root/bin/udevadm"
copy_libs "$root/lib/systemd/systemd-udevd"
copy_libs "$root/bin/udevadm"
for r in 50-udev-default.rules 60-input-id.rules 60-persistent-input.rules 60-drm.rules 70-uaccess.rules 75-net-description.rules 80-drivers.rules; do
  [ -f "$imgroot/lib/udev/rules.d/$r" ] && cp "$imgroot/lib/udev/rules.d/$r" "$root/lib/udev/rules.d/"
done

# Kernel modules for the virt machine's PCI virtio devices, with their dependencies.
mods="$root/lib/modules/$KVER"
mkdir -p "$mods"
kmods="$imgroot/lib/modules/$KVER"
declare -A mod_done=()
add_module() {
  local name="$1" path dep
  [ -n "${mod_done[$name]:-}" ] && return
  mod_done[$name]=1
  path="$(cd "$kmods" && find kernel -name "$name.ko" -o -name "${name//_/-}.ko" | head -1)"
  [ -n "$path" ] || die "kernel module $name not found in $kpkg"
  mkdir -p "$mods/$(dirname "$path")"
  cp "$kmods/$path" "$mods/$path"
  for dep in $(modinfo -F depends "$kmods/$path" | tr ',' ' '); do add_module "$dep"; done
}
for m in virtio_pci virtio-gpu virtio_input evdev virtio-rng; do add_module "$m"; done
cp "$kmods/modules.order" "$kmods/modules.builtin" "$kmods/modules.builtin.modinfo" "$mods/" 2>/dev/null || true
depmod -b "$root" "$KVER"

# Fonts, fontconfig, XKB keymaps, libinput quirks.
mkdir -p "$root/usr/share/fonts/truetype" "$root/usr/share/X11" "$root/etc/fonts"
cp -rL "$SYSROOT/etc/fonts/." "$root/etc/fonts/"
cp -rL "$SYSROOT/usr/share/fontconfig" "$root/usr/share/" 2>/dev/null || true
cp -rL "$SYSROOT/usr/share/fonts/truetype/dejavu" "$root/usr/share/fonts/truetype/"
cp -rL "$SYSROOT/usr/share/X11/xkb" "$root/usr/share/X11/"
[ -d "$SYSROOT/usr/share/libinput" ] && cp -rL "$SYSROOT/usr/share/libinput" "$root/usr/share/"

# Users and groups as device/mfp-kiosk.sysusers.conf and Debian's base system define them;
# mfp-kiosk is a member of the unit's SupplementaryGroups= (input video render).
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
mfp-kiosk:x:999:999:MFP panel:/var/lib/mfp-kiosk:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
disk:x:6:
kmem:x:15:
dialout:x:20:
video:x:44:mfp-kiosk
audio:x:29:
input:x:101:mfp-kiosk
kvm:x:102:
render:x:103:mfp-kiosk
sgx:x:104:
mfp-kiosk:x:999:
EOF
echo "127.0.0.1 localhost" >"$root/etc/hosts"

# The config: the demo's, with the state directory of the unit (StateDirectory=), automatic
# device-code approval, and the virtio keyboard as the keyboard-wedge badge reader.
sed -e 's#^state_dir = ""#state_dir = "/var/lib/mfp-kiosk"#' \
  -e 's#^auto_approve_after_secs = .*#auto_approve_after_secs = 2#' \
  "$repo/device/kiosk.demo.toml" >"$root/etc/mfp-kiosk/kiosk.toml"
cat >>"$root/etc/mfp-kiosk/kiosk.toml" <<'EOF'

# Boot test: the virtio keyboard plays the badge reader (grabbed through evdev like a real
# one); QMP types with ~60 ms between keys and the emulated guest adds jitter: a wide gap.
[readers.keyboard_wedge]
device = "name:QEMU Virtio Keyboard"
min_length = 4
max_length = 32
max_key_gap_ms = 1000
terminator = "enter"
EOF
grep -q '^auto_approve_after_secs = 2' "$root/etc/mfp-kiosk/kiosk.toml" || die "could not enable auto-approval in the guest config"
# The idle figures' panel: the same config run without --demo (no simulated cloud in the
# process: the board's panel), directory sync off (as in benches/ui_frames.rs), its own state.
python3 - "$root/etc/mfp-kiosk/kiosk.toml" "$root/etc/mfp-kiosk/idle.toml" <<'PY' || die "could not write the idle figures' config"
import re, sys
text = open(sys.argv[1]).read()
text = text.replace('state_dir = "/var/lib/mfp-kiosk"', 'state_dir = "/var/lib/mfp-kiosk-idle"', 1)
text, n = re.subn(r'(\[directory\][^\[]*?)^enabled = true', r'\1enabled = false', text, count=1, flags=re.M | re.S)
assert n == 1 and "mfp-kiosk-idle" in text
open(sys.argv[2], "w").write(text)
PY

# ExecStart= and Environment= of the unit, for /init to start the kiosk the same way.
unit="$root/etc/systemd/system/mfp-kiosk.service"
{
  sed -n 's/^Environment=\(.*\)$/export \1/p' "$unit"
  echo "KIOSK_EXEC=\"$(sed -n 's/^ExecStart=//p' "$unit") --demo\""
} >"$root/etc/mfp-kiosk/unit.env"

install -m 0755 "$here/init" "$root/init"

initrd="$work/initramfs.cpio.gz"
(cd "$root" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -1 >"$initrd")
log "initramfs $(du -h "$initrd" | cut -f1) (kernel $KVER)"

# --- 4. boot and test -----------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/serial.log "$out"/*.png "$out"/summary.tsv
serial="$out/serial.log"
qmp="$work/qmp.sock"
rm -f "$qmp"
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    python3 "$here/qmp.py" "$qmp" quit 2>/dev/null || true
    sleep 1
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  [ -n "${KEEP_IMAGE:-}" ] || rm -rf "$root"
}
trap cleanup EXIT

start=$(date +%s)
deadline=$((start + BOOT_TIMEOUT))
qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 1 -m 1024 -nodefaults -display none \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyAMA0 rdinit=/init panic=-1 loglevel=4" \
  -device virtio-gpu-pci,xres=$WIDTH,yres=$HEIGHT \
  -device virtio-keyboard-pci \
  -device virtio-tablet-pci \
  -device virtio-rng-pci \
  -serial "file:$serial" \
  -qmp "unix:$qmp,server=on,wait=off" \
  -no-reboot &
qemu_pid=$!

# The demo kiosk's part of the serial log: the idle measurements come before it.
run_log() { sed -n '/init: starting /,$p' "$serial" 2>/dev/null; }
# Waits for an extended regex in the demo run's log (the whole log with a third argument
# `all`); fails on the deadline or if QEMU is gone.
wait_for() {
  local pattern="$1" what="$2" scope="${3:-run}"
  while ! { if [ "$scope" = all ]; then cat "$serial"; else run_log; fi; } 2>/dev/null | grep -qE "$pattern"; do
    kill -0 "$qemu_pid" 2>/dev/null || die "QEMU exited while waiting for $what (see $serial)"
    grep -q 'KIOSK EXITED' "$serial" 2>/dev/null && die "the kiosk exited while waiting for $what (see $serial)"
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${BOOT_TIMEOUT}s waiting for $what (see $serial)"
    sleep 1
  done
  log "$what after $(($(date +%s) - start)) s"
}

wait_for 'init: MEASURE name=minimal' "minimal Slint app measured" all
wait_for 'init: MEASURE name=panel' "idle panel measured" all
wait_for 'init: kiosk started' "kiosk process started"

# The idle figures: start-up to first frame and resident memory once idle, panel vs minimal.
measure_field() { sed -n "s/.*init: MEASURE name=$1 .*$2=\([0-9]*\).*/\1/p" "$serial" | head -1; }
m_ff="$(measure_field minimal first_frame_ms)" m_rss="$(measure_field minimal idle_rss_kib)"
p_ff="$(measure_field panel first_frame_ms)" p_rss="$(measure_field panel idle_rss_kib)"
[ -n "$m_ff" ] && [ -n "$m_rss" ] && [ -n "$p_ff" ] && [ -n "$p_rss" ] ||
  die "an idle measurement is missing: $(grep 'init: MEASURE' "$serial" | tr '\n' ' ')"
awk -v mff="$m_ff" -v mrss="$m_rss" -v pff="$p_ff" -v prss="$p_rss" 'BEGIN {
  printf "SUMMARY\tQEMU boot: start-up to first frame (aarch64 TCG guest, linuxkms)\t%d ms\tminimal Slint app %d ms\t%.2fx\t<= 1.5x\n", pff, mff, pff / (mff > 0 ? mff : 1)
  printf "SUMMARY\tQEMU boot: idle RSS (aarch64 guest, 1024x600)\t%.1f MB\tminimal Slint app %.1f MB\t%.2fx\t<= 1.5x\n", prss / 1024, mrss / 1024, prss / mrss
}' | tee "$out/summary.tsv"
wait_for 'first frame' "first frame"
wait_for 'keyboard-wedge reader grabbed.*QEMU Virtio Keyboard' "HID reader grabbed the virtio keyboard"
# udevd names a rules file only to complain about it (syntax errors, unknown keys).
if grep -F '99-mfp-kiosk.rules' "$serial"; then die "udevd rejected device/99-mfp-kiosk.rules"; fi
grep -q 'card0' "$serial" || die "no DRM device in the guest"
sleep 2 # let the display settle past the first flip
python3 "$here/qmp.py" "$qmp" screendump "$out/idle.png"
python3 "$here/qmp.py" - check-png "$out/idle.png" "$WIDTH" "$HEIGHT" 8 || die "idle screendump check failed"

log "typing badge $BADGE + Enter into the virtio keyboard"
python3 "$here/qmp.py" "$qmp" type "$BADGE\\n"
wait_for 'badge read by the keyboard-wedge reader' "badge read through the grabbed keyboard (evdev)"
wait_for 'badge not registered' "card read of the unknown badge"
wait_for 'device-code sign-in completed' "device-code sign-in (auto-approved)"
# The app logs no line of its own when the session opens; what follows the token is provisioning
# and linking the badge, whose failure it does log ("sign-in failed"). Give it a few seconds,
# then the panel must have left the idle page (home shows the user and the workflows).
sleep 5
if run_log | grep -E 'sign-in failed|ERROR'; then die "the sign-in failed in the guest (see $serial)"; fi
python3 "$here/qmp.py" "$qmp" screendump "$out/signed-in.png"
python3 "$here/qmp.py" - check-png "$out/signed-in.png" "$WIDTH" "$HEIGHT" 8 || die "signed-in screendump check failed"
python3 "$here/qmp.py" - differ "$out/idle.png" "$out/signed-in.png" || die "the panel did not change after the sign-in"

# Sign out on the touch screen (the virtio tablet stands in for it), then tap the badge again:
# it is linked now, so it signs in by card alone, without the unknown-badge path or a second
# Microsoft sign-in.
log "touching Sign out"
python3 "$here/qmp.py" "$qmp" tap $SIGN_OUT_XY "$WIDTH" "$HEIGHT"
sleep 4
python3 "$here/qmp.py" "$qmp" screendump "$out/signed-out.png"
python3 "$here/qmp.py" - differ "$out/signed-in.png" "$out/signed-out.png" || die "touching Sign out did not sign out"
log "tapping the badge again: card sign-in"
python3 "$here/qmp.py" "$qmp" type "$BADGE\\n"
sleep 5
python3 "$here/qmp.py" "$qmp" screendump "$out/card-sign-in.png"
python3 "$here/qmp.py" - differ "$out/signed-out.png" "$out/card-sign-in.png" || die "the linked badge did not sign in"
[ "$(run_log | grep -c 'badge read by the keyboard-wedge reader')" -eq 2 ] || die "the second badge tap did not come through the HID reader"
[ "$(run_log | grep -c 'badge not registered')" -eq 1 ] || die "the linked badge was not recognised (see $serial)"
[ "$(run_log | grep -c 'device-code sign-in started')" -eq 1 ] || die "the card sign-in fell back to Microsoft sign-in (see $serial)"
if run_log | grep -E 'sign-in failed|ERROR'; then die "the card sign-in failed in the guest (see $serial)"; fi

# Start-up time from the app's own log: the "first frame" line carries since_start_ms.
first_frame="$(run_log | grep -m1 'first frame' | sed -n 's/.*since_start_ms=\([0-9]*\).*/\1/p')"
log "start-up to first frame (app log, TCG-emulated cortex-a57): ${first_frame:-?} ms"
if run_log | grep -E ' (ERROR|WARN) ' | grep -v 'device-code sign-in cancelled'; then
  log "(warnings above are from the guest's log)"
fi
log "PASS in $(($(date +%s) - start)) s; artifacts in $out"
