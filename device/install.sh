#!/bin/sh
# Installs the panel on the board (run as root there), or stages the same files into an image:
#   install.sh [--binary PATH] [--font PATH] [--root DIR] [--no-start]
#
#   --binary PATH  the mfp-kiosk binary (default: ./mfp-kiosk next to this script, as in the
#                  bundle device/cross-build.sh makes)
#   --font PATH    the Japanese font (default: ./NotoSansJP-Subset.otf next to this script, or
#                  ../ui/fonts/ when run from the repository); its licence file beside it
#   --root DIR     install below DIR instead of / (building an image): no systemctl, no udevadm
#   --no-start     install and enable, but do not start now
#
# What goes where:
#   /usr/bin/mfp-kiosk
#   /usr/share/mfp-kiosk/fonts/NotoSansJP-Subset.otf   Japanese glyphs (not in the binary)
#   /etc/systemd/system/mfp-kiosk.service
#   /usr/lib/sysusers.d/mfp-kiosk.conf      the system user mfp-kiosk (systemd-sysusers)
#   /etc/udev/rules.d/99-mfp-kiosk.rules    badge readers, display and touch for that user
#   /etc/polkit-1/rules.d/50-mfp-kiosk-pcsc.rules   pcscd access without a login session
#   /etc/mfp-kiosk/kiosk.toml               only if absent: the example config, to be edited
# Plain POSIX sh: the board's image may have no bash.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
binary="$here/mfp-kiosk"
font="$here/NotoSansJP-Subset.otf"
[ -f "$font" ] || font="$here/../ui/fonts/NotoSansJP-Subset.otf"
root=""
start=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --font) font="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --no-start) start=no; shift ;;
    *) echo "usage: install.sh [--binary PATH] [--font PATH] [--root DIR] [--no-start]" >&2; exit 2 ;;
  esac
done
[ -f "$binary" ] || { echo "install.sh: no binary at $binary (use --binary)" >&2; exit 1; }
# The panel runs without it, but shows Japanese text as boxes: refuse to install half of it.
[ -f "$font" ] || { echo "install.sh: no Japanese font at $font (use --font)" >&2; exit 1; }
font_licence="$(dirname "$font")/LICENSE-OFL.txt"
[ -f "$font_licence" ] || { echo "install.sh: the font's licence $font_licence is missing" >&2; exit 1; }
for f in mfp-kiosk.service mfp-kiosk.sysusers.conf 99-mfp-kiosk.rules 50-mfp-kiosk-pcsc.rules kiosk.example.toml; do
  [ -f "$here/$f" ] || { echo "install.sh: $here/$f is missing" >&2; exit 1; }
done

install -D -m 0755 "$binary" "$root/usr/bin/mfp-kiosk"
# src/ui/fonts.rs looks in <binary's dir>/../share/mfp-kiosk/fonts.
install -D -m 0644 "$font" "$root/usr/share/mfp-kiosk/fonts/NotoSansJP-Subset.otf"
install -D -m 0644 "$font_licence" "$root/usr/share/mfp-kiosk/fonts/LICENSE-OFL.txt"
install -D -m 0644 "$here/mfp-kiosk.service" "$root/etc/systemd/system/mfp-kiosk.service"
install -D -m 0644 "$here/mfp-kiosk.sysusers.conf" "$root/usr/lib/sysusers.d/mfp-kiosk.conf"
install -D -m 0644 "$here/99-mfp-kiosk.rules" "$root/etc/udev/rules.d/99-mfp-kiosk.rules"
install -D -m 0644 "$here/50-mfp-kiosk-pcsc.rules" "$root/etc/polkit-1/rules.d/50-mfp-kiosk-pcsc.rules"
# The config holds the tenant's ids, nothing secret, but only root edits it.
if [ ! -e "$root/etc/mfp-kiosk/kiosk.toml" ]; then
  install -D -m 0644 "$here/kiosk.example.toml" "$root/etc/mfp-kiosk/kiosk.toml"
  echo "install.sh: wrote $root/etc/mfp-kiosk/kiosk.toml from the example: set your tenant, client id and workflows"
fi

if [ -n "$root" ]; then
  echo "install.sh: staged into $root"
  exit 0
fi

systemd-sysusers /usr/lib/sysusers.d/mfp-kiosk.conf
udevadm control --reload
udevadm trigger --subsystem-match=input --subsystem-match=drm --action=change
systemctl daemon-reload
if /usr/bin/mfp-kiosk --config /etc/mfp-kiosk/kiosk.toml check-config; then
  systemctl enable mfp-kiosk.service
  [ "$start" = yes ] && systemctl restart mfp-kiosk.service
  echo "install.sh: done; follow the panel with: journalctl -u mfp-kiosk -f"
else
  systemctl enable mfp-kiosk.service
  echo "install.sh: installed and enabled, not started: fix /etc/mfp-kiosk/kiosk.toml (see above), then: systemctl start mfp-kiosk" >&2
  exit 1
fi
