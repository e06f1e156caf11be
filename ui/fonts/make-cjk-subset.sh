#!/usr/bin/env bash
# Regenerates ui/fonts/NotoSansJP-Subset.otf: Noto Sans CJK JP Regular cut down to what the
# Japanese panel needs (every character of the ja translation, kana, CJK punctuation,
# full-width forms and the JIS X 0208 level-1 kanji, the ~3000 most common), so the binary
# embeds < 2 MB instead of the 19 MB collection. Run after the ja .po gains new characters
# (the `translations` test says so). Needs Debian's fonts-noto-cjk and python3-fonttools.
set -euo pipefail
cd "$(dirname "$0")"
src=${CJK_SOURCE:-/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc}
# Debian's fontTools lives in the system python (a pyenv python3 earlier on PATH lacks it).
py=python3
python3 -c 'import fontTools' 2>/dev/null || py=/usr/bin/python3
if [[ ! -f $src ]] || ! "$py" -c 'import fontTools' 2>/dev/null; then
  echo "needs: apt-get install fonts-noto-cjk python3-fonttools" >&2
  exit 1
fi
chars=$(mktemp)
trap 'rm -f "$chars"' EXIT
python3 - "$chars" <<'PY'
import sys
text = open('../translations/ja/LC_MESSAGES/mfp-kiosk.po', encoding='utf-8').read()
chars = set(text)
# Kana, CJK symbols and punctuation, full-width ASCII and half-width katakana.
for lo, hi in [(0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0xFF00, 0xFFEF)]:
    chars.update(chr(c) for c in range(lo, hi + 1))
# JIS X 0208 level-1 kanji: rows 16..47 of the EUC-JP table.
for row in range(16, 48):
    for cell in range(1, 95):
        try:
            chars.add(bytes([0xA0 + row, 0xA0 + cell]).decode('euc_jp'))
        except UnicodeDecodeError:
            pass
# The idle page's language list, whatever the language.
chars.update('日本語')
open(sys.argv[1], 'w', encoding='utf-8').write(''.join(sorted(c for c in chars if c.isprintable())))
PY
# Font number 0 of the collection is the Japanese (JP) face.
"$py" -m fontTools.subset "$src" --font-number=0 --text-file="$chars" \
  --no-hinting \
  --name-IDs='*' --output-file=NotoSansJP-Subset.otf
ls -l NotoSansJP-Subset.otf
