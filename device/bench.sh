#!/usr/bin/env bash
# One benchmark run, every headline figure beside the reference measured in the same run.
#   device/bench.sh            run every benchmark at full size, print the table, write
#                              docs/benchmarks.md and the README's performance section
#   device/bench.sh --no-write print the table only
# Each benchmark prints its own details and one tab-separated `SUMMARY` row (figure, measured,
# reference, ratio, target); this script runs them one after the other (the machine's other
# load moves every figure, the ratios much less), collects the rows and adds the binary sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mfp-kiosk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
write=1
[ "${1:-}" = "--no-write" ] && write=0

device/host.sh deps >/dev/null
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

run() {
  echo "== $*" >&2
  "$@" 2>&1 | tee -a "$log" >&2
}

for b in offline_signin ui_frames pdf_encode scan_memory directory_sync soak_sessions scim_load; do
  run cargo bench --locked --bench "$b"
done
run cargo run --locked --release --example upload_bench -- 1024

# Binary sizes: the host release build, and the board builds the cross script left behind.
cargo build --locked --release >&2
size_row() {
  local label="$1" file="$2" bytes
  # A board binary's size as cross-build.sh recorded it for the shipped `kiosk` features.
  if [ -f "$file.kiosk-size" ]; then bytes="$(cat "$file.kiosk-size")"
  elif [ -f "$file" ]; then bytes="$(stat -c %s "$file")"; fi
  if [ -n "${bytes:-}" ]; then
    awk -v l="$label" -v b="$bytes" \
      'BEGIN { printf "SUMMARY\tstripped binary, %s\t%.1f MB\t-\t-\t< 16 MB\n", l, b / 1e6 }' >>"$log"
  else
    printf 'SUMMARY\tstripped binary, %s\tnot built (device/cross-build.sh)\t-\t-\t< 16 MB\n' "$label" >>"$log"
  fi
}
size_row "x86_64 host" "$CARGO_TARGET_DIR/release/mfp-kiosk"
cross="${CARGO_TARGET_DIR_CROSS:-$HOME/.cache/mfp-kiosk/target-cross}"
size_row aarch64 "$cross/aarch64-unknown-linux-gnu/release/mfp-kiosk"
size_row armv7 "$cross/armv7-unknown-linux-gnueabihf/release/mfp-kiosk"
# The guest's figures from the last QEMU boot test (device/qemu/boot-test.sh writes them; it
# is not run from here: it needs the aarch64 board build).
if [ -f device/qemu/out/summary.tsv ]; then
  sed "s/^SUMMARY\t\([^\t]*\)/SUMMARY\t\1 (boot test of $(date -u -r device/qemu/out/summary.tsv +%Y-%m-%d))/" \
    device/qemu/out/summary.tsv >>"$log"
fi

machine="$(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1 /proc/loadavg)"
table="$(
  echo "Measured $(date -u +%Y-%m-%d) on ${machine} by \`device/bench.sh\`."
  echo
  echo "| figure | measured | reference, same run | ratio | target |"
  echo "|---|---|---|---|---|"
  grep '^SUMMARY' "$log" | cut -f2- | sed 's/\t/ | /g; s/^/| /; s/$/ |/'
)"
echo
echo "$table"

if [ "$write" = 1 ]; then
  { echo "# Benchmarks"; echo; echo "$table"; } >docs/benchmarks.md
  # The README's performance section is the table of the last run, between its markers.
  python3 - "$table" <<'PY'
import sys, re
table = sys.argv[1]
readme = open("README.md").read()
start, end = "<!-- bench:start -->", "<!-- bench:end -->"
if start in readme and end in readme:
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    open("README.md", "w").write(head + start + "\n" + table + "\n" + end + tail)
PY
  echo "bench.sh: wrote docs/benchmarks.md and README.md's performance section" >&2
fi
