#!/usr/bin/env bash
# The PC/SC stack the card-reader code builds against and its tests run on, for Debian 12
# (run as root, or with sudo available). Idempotent.
#
#   device/ci-pcsc.sh [install]   install libpcsclite-dev (needed to build), pcscd and the
#                                 vpcd virtual-reader driver, and check they are usable
#   device/ci-pcsc.sh start       also start a system pcscd in the background with the vpcd
#                                 reader from /etc/reader.conf.d/vpcd (cards on port 35963/4),
#                                 for trying the panel with `cargo run --example vpcd_card`
#   device/ci-pcsc.sh stop        stop the pcscd started by `start`
#
# tests/readers_pcsc.rs does not need `start`: every test runs its own private pcscd (own
# socket, own mount namespace, free ports), so it neither needs nor disturbs a system one.
# With CI set, the tests fail instead of skipping when this script was not run.
set -euo pipefail

PACKAGES=(libpcsclite-dev pkg-config pcscd vsmartcard-vpcd util-linux)
VPCD_DRIVER=/usr/lib/pcsc/drivers/serial/libifdvpcd.so
PID_FILE=/run/pcscd/pcscd.pid
LOG_FILE=/var/log/mfp-pcscd.log

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "ci-pcsc.sh: installing ${missing[*]}"
    as_root apt-get update -qq
    # Another apt run (a second CI job, unattended upgrades) may hold the lock for a while.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
      install -y -qq --no-install-recommends "${missing[@]}"
  fi
  command -v pcscd >/dev/null 2>&1 || [ -x /usr/sbin/pcscd ] || { echo "ci-pcsc.sh: pcscd missing" >&2; exit 1; }
  [ -e "$VPCD_DRIVER" ] || { echo "ci-pcsc.sh: $VPCD_DRIVER missing" >&2; exit 1; }
  pkg-config --exists libpcsclite || { echo "ci-pcsc.sh: libpcsclite.pc missing" >&2; exit 1; }
  echo "ci-pcsc.sh: pcscd $(pkg-config --modversion libpcsclite), vpcd driver present"
}

running_pid() {
  local pid
  pid="$(tr -d '\0' 2>/dev/null <"$PID_FILE" | head -n1 || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

start() {
  install
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    echo "ci-pcsc.sh: pcscd already running (pid $pid)"
    return
  fi
  # Foreground mode under nohup keeps its log in a file of ours; --auto-exit is not used so
  # it stays up between test runs.
  as_root sh -c "nohup /usr/sbin/pcscd --foreground --info >>'$LOG_FILE' 2>&1 &"
  for _ in $(seq 1 50); do
    [ -S /run/pcscd/pcscd.comm ] && [ -n "$(running_pid)" ] && break
    sleep 0.1
  done
  [ -n "$(running_pid)" ] || { echo "ci-pcsc.sh: pcscd did not start, see $LOG_FILE" >&2; exit 1; }
  echo "ci-pcsc.sh: pcscd running (pid $(running_pid)), vpcd waits for cards on 35963/35964"
}

stop() {
  local pid
  pid="$(running_pid)"
  if [ -n "$pid" ]; then
    as_root kill "$pid"
    echo "ci-pcsc.sh: stopped pcscd (pid $pid)"
  fi
}

case "${1:-install}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: device/ci-pcsc.sh [install|start|stop]" >&2; exit 2 ;;
esac
