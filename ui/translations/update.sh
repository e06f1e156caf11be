#!/usr/bin/env bash
# Refreshes the translation template and merges it into every language's .po file.
#
#   ui/translations/update.sh            # after adding, changing or removing UI strings
#
# What it does:
#   1. slint-tr-extractor collects every @tr() of ui/**/*.slint (no default context, as
#      build.rs compiles them), extract_rust.py every Msg::new / Msg::plural literal of src/;
#      both go into ui/translations/mfp-kiosk.pot.
#   2. msgmerge updates ui/translations/<lang>/LC_MESSAGES/mfp-kiosk.po for de fr es nl ja:
#      new strings arrive with an empty msgstr (or a "#, fuzzy" guess from a similar old
#      string), strings the UI dropped become obsolete "#~" entries (the build and the
#      `translations` test ignore them; delete them when you like).
#
# Then: translate every empty msgstr, check each "#, fuzzy" guess and remove the flag, and
# run `cargo test --test translations` (it fails until every language is complete). German
# must fit 800x480: render `mfp-kiosk screenshot --lang de --size 800x480 --page ...`.
# Japanese text with kanji the font subset lacks: run ui/fonts/make-cjk-subset.sh.
#
# Needs: slint-tr-extractor (`cargo install slint-tr-extractor --version =1.18.1`),
# msgmerge/msgattrib/msgcat (Debian package gettext) and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

for tool in slint-tr-extractor msgmerge msgcat msgattrib python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "update.sh: $tool not found (see the header of this script)" >&2
    exit 1
  fi
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mapfile -t slint_files < <(find ui -name '*.slint' | sort)
slint-tr-extractor --no-default-translation-context -o "$tmp/slint.pot" "${slint_files[@]}"
python3 "$here/extract_rust.py" "$root" "$tmp/rust.pot"
msgcat --use-first --sort-by-file -o "$here/mfp-kiosk.pot" "$tmp/slint.pot" "$tmp/rust.pot"

for lang in de fr es nl ja; do
  po="$here/$lang/LC_MESSAGES/mfp-kiosk.po"
  msgmerge --quiet --update --backup=none --no-wrap "$po" "$here/mfp-kiosk.pot"
  empty=$(msgattrib --untranslated --no-obsolete "$po" | grep -c '^msgid ' || true)
  fuzzy=$(msgattrib --only-fuzzy --no-obsolete "$po" | grep -c '^msgid ' || true)
  # msgattrib prints the header entry too when it prints anything.
  [[ $empty -gt 0 ]] && empty=$((empty - 1))
  [[ $fuzzy -gt 0 ]] && fuzzy=$((fuzzy - 1))
  echo "$lang: $empty untranslated, $fuzzy fuzzy"
done
