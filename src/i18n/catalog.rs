//! The translations of Rust-made text: the bundled `.po` files (the same ones Slint bundles
//! for `@tr()`), parsed once, and a small `.po` parser that the `translations` test shares.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Language;

/// One entry of a `.po` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoEntry {
    pub context: Option<String>,
    pub id: String,
    /// `msgid_plural`, when the entry has plural forms.
    pub plural: Option<String>,
    /// `msgstr`, or `msgstr[0..]` for a plural entry. Empty strings are untranslated.
    pub strs: Vec<String>,
    /// Marked `#, fuzzy`: gettext (and this catalogue) ignore the translation.
    pub fuzzy: bool,
}

/// A `.po` file: its header entry's fields and the other entries. Obsolete (`#~`) entries
/// are skipped.
#[derive(Debug, Clone, Default)]
pub struct PoFile {
    pub header: String,
    pub entries: Vec<PoEntry>,
}

/// Why a `.po` text could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoError {
    #[error("line {line}: {what}")]
    Syntax { line: usize, what: String },
}

fn syntax(line: usize, what: &str) -> PoError {
    PoError::Syntax {
        line,
        what: what.into(),
    }
}

/// Parses a quoted `.po` string with C escapes.
fn unquote(s: &str, line: usize) -> Result<String, PoError> {
    let inner = s
        .trim()
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| syntax(line, "expected a quoted string"))?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            _ => return Err(syntax(line, "unknown escape")),
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum Field {
    None,
    Ctx,
    Id,
    Plural,
    Str(usize),
}

/// Parses a `.po` text.
pub fn parse_po(text: &str) -> Result<PoFile, PoError> {
    let mut file = PoFile::default();
    let mut cur = PoEntry::default();
    let mut field = Field::None;
    let mut started = false;
    let mut fuzzy_next = false;

    fn finish(file: &mut PoFile, cur: &mut PoEntry, started: &mut bool) {
        if *started {
            let e = std::mem::take(cur);
            if e.id.is_empty() && e.context.is_none() {
                file.header = e.strs.first().cloned().unwrap_or_default();
            } else {
                file.entries.push(e);
            }
        }
        *started = false;
    }

    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(flags) = line.strip_prefix("#,") {
            finish(&mut file, &mut cur, &mut started);
            field = Field::None;
            fuzzy_next |= flags.split(',').any(|f| f.trim() == "fuzzy");
            continue;
        }
        if line.starts_with('#') {
            // Comments, references and obsolete entries; a comment also ends an entry.
            if started && field != Field::None && !matches!(field, Field::Ctx) {
                finish(&mut file, &mut cur, &mut started);
                field = Field::None;
            }
            continue;
        }
        let (keyword, rest) = match line.find(' ') {
            Some(sp) if !line.starts_with('"') => (&line[..sp], &line[sp + 1..]),
            _ => ("", line),
        };
        match keyword {
            "" => {
                let s = unquote(rest, line_no)?;
                match field {
                    Field::None => return Err(syntax(line_no, "string outside an entry")),
                    Field::Ctx => cur.context.get_or_insert_with(String::new).push_str(&s),
                    Field::Id => cur.id.push_str(&s),
                    Field::Plural => cur.plural.get_or_insert_with(String::new).push_str(&s),
                    Field::Str(n) => cur.strs[n].push_str(&s),
                }
            }
            "msgctxt" => {
                finish(&mut file, &mut cur, &mut started);
                started = true;
                cur.fuzzy = std::mem::take(&mut fuzzy_next);
                cur.context = Some(unquote(rest, line_no)?);
                field = Field::Ctx;
            }
            "msgid" => {
                if field != Field::Ctx {
                    finish(&mut file, &mut cur, &mut started);
                    started = true;
                    cur.fuzzy = std::mem::take(&mut fuzzy_next);
                }
                cur.id = unquote(rest, line_no)?;
                field = Field::Id;
            }
            "msgid_plural" => {
                cur.plural = Some(unquote(rest, line_no)?);
                field = Field::Plural;
            }
            k if k == "msgstr" || k.starts_with("msgstr[") => {
                let index = if k == "msgstr" {
                    0
                } else {
                    k.trim_start_matches("msgstr[")
                        .trim_end_matches(']')
                        .parse::<usize>()
                        .map_err(|_| syntax(line_no, "bad msgstr index"))?
                };
                if index != cur.strs.len() {
                    return Err(syntax(line_no, "msgstr indexes out of order"));
                }
                cur.strs.push(unquote(rest, line_no)?);
                field = Field::Str(index);
            }
            _ => return Err(syntax(line_no, "unknown keyword")),
        }
    }
    finish(&mut file, &mut cur, &mut started);
    Ok(file)
}

/// The `.po` text of each translated language, bundled at build time.
pub fn bundled_po(lang: Language) -> Option<&'static str> {
    match lang {
        Language::En => None,
        Language::De => Some(include_str!(
            "../../ui/translations/de/LC_MESSAGES/mfp-kiosk.po"
        )),
        Language::Fr => Some(include_str!(
            "../../ui/translations/fr/LC_MESSAGES/mfp-kiosk.po"
        )),
        Language::Es => Some(include_str!(
            "../../ui/translations/es/LC_MESSAGES/mfp-kiosk.po"
        )),
        Language::Nl => Some(include_str!(
            "../../ui/translations/nl/LC_MESSAGES/mfp-kiosk.po"
        )),
        Language::Ja => Some(include_str!(
            "../../ui/translations/ja/LC_MESSAGES/mfp-kiosk.po"
        )),
    }
}

type Table = HashMap<String, Vec<String>>;

fn tables() -> &'static HashMap<Language, Table> {
    static TABLES: OnceLock<HashMap<Language, Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut all = HashMap::new();
        for lang in Language::ALL {
            let Some(text) = bundled_po(lang) else {
                continue;
            };
            // A broken file is caught by the `translations` test; on the panel the text
            // falls back to English instead of failing.
            let file = match parse_po(text) {
                Ok(f) => f,
                Err(e) => {
                    tracing::error!(%lang, error = %e, "bundled translation unreadable");
                    continue;
                }
            };
            let table: Table = file
                .entries
                .into_iter()
                .filter(|e| !e.fuzzy && e.context.is_none() && e.strs.iter().all(|s| !s.is_empty()))
                .map(|e| (e.id, e.strs))
                .collect();
            all.insert(lang, table);
        }
        all
    })
}

/// The translated template of `id` (with plural form for `n` when `plural` is set).
pub fn lookup(lang: Language, id: &str, plural: &str, n: i64) -> Option<&'static str> {
    let strs = tables().get(&lang)?.get(id)?;
    let index = if plural.is_empty() {
        0
    } else {
        lang.plural_index(n)
    };
    strs.get(index).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_plural_multiline_fuzzy_and_obsolete_entries() {
        let po = r#"msgid ""
msgstr ""
"Language: de\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: ui/pages/idle.slint:1
msgid "Tap your badge"
msgstr "Badge "
"auflegen"

msgid "{n} page"
msgid_plural "{n} pages"
msgstr[0] "{n} Seite"
msgstr[1] "{n} Seiten"

#, fuzzy
msgid "Old"
msgstr "Alt"

#~ msgid "Gone"
#~ msgstr "Weg"
"#;
        let f = parse_po(po).expect("valid");
        assert!(f.header.contains("Plural-Forms: nplurals=2"));
        assert_eq!(f.entries.len(), 3);
        assert_eq!(f.entries[0].strs, vec!["Badge auflegen".to_string()]);
        assert_eq!(f.entries[1].plural.as_deref(), Some("{n} pages"));
        assert_eq!(f.entries[1].strs.len(), 2);
        assert!(f.entries[2].fuzzy);
    }

    #[test]
    fn bad_input_names_the_line() {
        let err = parse_po("msgid \"a\"\nmsgstr \"b\\q\"\n").unwrap_err();
        assert_eq!(
            err,
            PoError::Syntax {
                line: 2,
                what: "unknown escape".into()
            }
        );
        assert!(parse_po("bogus \"x\"").is_err());
    }
}
