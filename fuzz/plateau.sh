#!/usr/bin/env bash
# Runs fuzz targets until their coverage stops growing, and keeps what they found:
#   fuzz/plateau.sh [TARGET...]      (default: every target)
# A target stops when libFuzzer's edge coverage (`cov:`) has not grown for PLATEAU_QUIET_SECS
# (default 300), or after PLATEAU_MAX_SECS (default 1800) without reaching that. Prints one
# line per target: how long it ran, when coverage last grew, cov and ft, and whether it
# plateaued; then merges the new inputs into the committed corpus (fuzz/corpus/<target>):
# only those that add coverage to it are kept. A crash stops with its input under
# fuzz/artifacts/<target>/, as in smoke.sh.
#   PLATEAU_QUIET_SECS  how long coverage must stay flat (default 300)
#   PLATEAU_MAX_SECS    the longest a target runs (default 1800)
#   PLATEAU_LOG         a file to append the result lines to (default none)
set -euo pipefail

cd "$(dirname "$0")"
quiet="${PLATEAU_QUIET_SECS:-300}"
max="${PLATEAU_MAX_SECS:-1800}"
# The build smoke.sh makes (same flags, same target dir), so one build serves both.
. ./setup.sh
cargo fuzz build -s none --dev

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
scratch=$(mktemp -d)
trap '[ -z "${pid:-}" ] || pkill -P "$pid" 2>/dev/null || true; rm -rf "$scratch"' EXIT

# The last `cov: N` of libFuzzer's status lines in a log, 0 before the first.
cov_of() { grep -oE '^#[0-9]+.* cov: [0-9]+' "$1" | tail -n 1 | sed 's/.* cov: //' || true; }

for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "corpus/$target"
  log="$scratch/$target.log"
  start=$(date +%s)
  cargo fuzz run -s none --dev "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$max" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 &
  pid=$!
  best=0 grew_at=0 state="no plateau within ${max} s"
  while kill -0 "$pid" 2>/dev/null; do
    sleep 10
    now=$(( $(date +%s) - start ))
    cov=$(cov_of "$log")
    if [ "${cov:-0}" -gt "$best" ]; then best=$cov grew_at=$now; fi
    if [ $((now - grew_at)) -ge "$quiet" ]; then
      state="plateau"
      # libFuzzer (cargo-fuzz's child) ends on SIGINT with its final stats.
      pkill -INT -P "$pid" 2>/dev/null || kill -INT "$pid" 2>/dev/null || true
      break
    fi
  done
  status=0
  wait "$pid" || status=$?
  pid=
  if [ "$state" != plateau ] && [ "$status" -ne 0 ] && grep -q 'SUMMARY: libFuzzer\|ERROR: libFuzzer\|panicked' "$log"; then
    tail -n 40 "$log" >&2
    echo "fuzz/plateau.sh: $target crashed (input under fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  ran=$(( $(date +%s) - start ))
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  line="$target: ran ${ran} s, ${execs:-?} runs, coverage last grew at ${grew_at} s, cov ${best}, $state | $last"
  echo "$line"
  [ -z "${PLATEAU_LOG:-}" ] || echo "$(date -u +%Y-%m-%dT%H:%MZ) $line" >>"$PLATEAU_LOG"
  # Keep only what adds coverage: merge the run's finds into the committed corpus.
  before=$(find "corpus/$target" -type f | wc -l)
  # Edges only (no hit counters, no comparison operands), as the committed corpus was
  # minimised: otherwise every input with a new counter bucket would be kept.
  cargo fuzz run -s none --dev "$target" "corpus/$target" "$scratch/$target" -- \
    -merge=1 -use_counters=0 -use_cmp=0 -rss_limit_mb=2048 >"$scratch/$target.merge.log" 2>&1 ||
    echo "fuzz/plateau.sh: merging $target's finds failed, see $scratch/$target.merge.log" >&2
  echo "  corpus/$target: $before -> $(find "corpus/$target" -type f | wc -l) files"
done
