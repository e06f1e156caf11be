#!/usr/bin/env bash
# A short run of every fuzz target, starting from its committed corpus (fuzz/corpus/<target>),
# for CI (device/host.sh test). Works on the stable toolchain: `-s none` needs no sanitizer,
# and the coverage flags cargo-fuzz passes (-Cpasses=sancov-module, -Cllvm-args=...) are stable.
# New inputs go to a scratch directory, never into the committed corpus; a crash fails the run
# and leaves its input under fuzz/artifacts/<target>/.
#   FUZZ_SMOKE_SECS   seconds per target (default 5)
#   FUZZ_TARGET_DIR   the fuzz build's target dir (default ~/.cache/mfp-kiosk/target-fuzz,
#                     outside the clone so that CI's next clean clone builds warm)
set -euo pipefail

cd "$(dirname "$0")"
secs="${FUZZ_SMOKE_SECS:-5}"
. ./setup.sh

start=$(date +%s)
# --dev: the dev profile (opt-level 1, see Cargo.toml) builds in a fraction of release's time
# (release forces one codegen unit per crate); plenty for a smoke run.
cargo fuzz build -s none --dev
echo "fuzz/smoke.sh: build took $(( $(date +%s) - start )) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$scratch/$target" "corpus/$target"
  echo "fuzz/smoke.sh: $target for ${secs} s"
  # The first directory receives new inputs; the committed corpus is only read.
  log="$scratch/$target.log"
  if ! cargo fuzz run -s none --dev "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz/smoke.sh: $target failed" >&2
    exit 1
  fi
  # The last status line: runs, coverage (cov) and features (ft) reached.
  grep -E '^#[0-9]+' "$log" | tail -n 1
done
echo "fuzz/smoke.sh: all targets passed in $(( $(date +%s) - start )) s"
