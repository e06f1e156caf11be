#!/usr/bin/env bash
# SANE for the scanner tests (tests/scan_sane.rs): installs libsane1 (the library the SANE
# scanner source dlopens, with SANE's `test` backend) if it is missing. The tests point
# SANE_CONFIG_DIR at a directory of their own whose dll.conf enables only `test`, so no scanner
# hardware and no system SANE config are involved. Idempotent; run as root or with sudo.
set -euo pipefail
if ! ldconfig -p 2>/dev/null | grep -q 'libsane\.so\.1'; then
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsane1
fi
