# Sourced by smoke.sh and plateau.sh (from fuzz/): the fuzz build has its own flags, so its own
# target dir, outside the clone (FUZZ_TARGET_DIR, default ~/.cache/mfp-kiosk/target-fuzz) so
# that CI's next clean clone builds warm; cargo-fuzz looks for its binaries under fuzz/target,
# so that is a link to it (git-ignored). Installs cargo-fuzz when missing.
unset CARGO_TARGET_DIR
fuzz_target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/mfp-kiosk/target-fuzz}"
mkdir -p "$fuzz_target_dir"
if [ ! -e target ] || [ -L target ]; then
  ln -sfn "$fuzz_target_dir" target
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --version 0.13.2
fi
