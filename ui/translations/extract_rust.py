#!/usr/bin/env python3
"""Writes a .pot of the panel texts made in Rust: every Msg::new("...") and
Msg::plural("...", "...", n) literal under src/ (see src/i18n/mod.rs). The .slint strings
come from slint-tr-extractor; update.sh merges both."""
import pathlib
import re
import sys

LIT = r'"((?:[^"\\]|\\.)*)"'
NEW = re.compile(r'Msg::new\(\s*' + LIT + r'\s*,?\s*\)')
PLURAL = re.compile(r'Msg::plural\(\s*' + LIT + r'\s*,\s*' + LIT)


def unescape(s):
    # Rust escapes used in these literals: \" \\ \n and line continuations.
    s = re.sub(r'\\\n\s*', '', s)
    return s.replace('\\"', '"').replace('\\n', '\n').replace('\\\\', '\\')


def po_quote(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def main(root, out):
    seen = {}
    for path in sorted(pathlib.Path(root, 'src').rglob('*.rs')):
        text = path.read_text(encoding='utf-8')
        # Tests build texts too; only the shipped code counts.
        if path.name == 'tests.rs' or '/tests/' in str(path):
            continue
        cut = text.find('#[cfg(test)]')
        if cut >= 0:
            text = text[:cut]
        # Doc comments quote the pattern; blank them out, keeping line numbers.
        text = re.sub(r'(?m)^(\s*)//.*$', r'\1', text)
        rel = path.relative_to(root)
        for m in NEW.finditer(text):
            line = text.count('\n', 0, m.start()) + 1
            seen.setdefault((unescape(m.group(1)), None), []).append(f'{rel}:{line}')
        for m in PLURAL.finditer(text):
            line = text.count('\n', 0, m.start()) + 1
            seen.setdefault((unescape(m.group(1)), unescape(m.group(2))), []).append(f'{rel}:{line}')
    with open(out, 'w', encoding='utf-8') as f:
        f.write('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n')
        for (msgid, plural), refs in sorted(seen.items(), key=lambda kv: kv[1][0]):
            # Placeholders alone ("{}", "{}{}") are data or joined sentences, shown as is.
            if msgid.replace('{}', '') == '':
                continue
            f.write('#: ' + ' '.join(refs) + '\n')
            f.write('msgid ' + po_quote(msgid) + '\n')
            if plural is None:
                f.write('msgstr ""\n\n')
            else:
                f.write('msgid_plural ' + po_quote(plural) + '\nmsgstr[0] ""\nmsgstr[1] ""\n\n')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
