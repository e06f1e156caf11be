//! The bundled translations are complete and current: every string the UI can show (each
//! `@tr()` in ui/**/*.slint and each `Msg::new` / `Msg::plural` literal in src/) has a real
//! translation in every language, with the same placeholders and the right plural forms, and
//! no `.po` file keeps a string the UI no longer uses.
//!
//! The strings are extracted here, by a small parser of the two syntaxes, rather than by
//! `slint-tr-extractor` (not installed in CI). It follows the extractor's rules for this
//! project: no default context (build.rs), `@tr("ctx" => "text")` for an explicit one,
//! `@tr("one" | "many" % n)` for plurals. `ui/translations/update.sh` does the same with the
//! real extractor and msgmerge; when this test fails, run it and translate what is empty.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mfp_kiosk::i18n::catalog::{parse_po, PoEntry};
use mfp_kiosk::i18n::Language;

/// One translatable string: (context, msgid) and its plural msgid.
type Key = (Option<String>, String);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// Reads a string literal starting at `s[0] == '"'`; returns its value and the rest.
fn literal(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                // A Rust line continuation: the newline and the next line's indent vanish.
                '\n' => {
                    let rest = &s[i + 2..];
                    let skip = rest.len() - rest.trim_start().len();
                    for _ in 0..skip {
                        chars.next();
                    }
                }
                // Other escapes (\u{..}, \r, \0) do not occur in UI texts; keep them verbatim.
                other => {
                    value.push('\\');
                    value.push(other);
                }
            },
            c => value.push(c),
        }
    }
    None
}

/// Blanks out `//` and `/* */` comments (keeping string literals intact), so a quoted example
/// in a comment is not taken for a string.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            // A Rust raw string: no escapes, ends at the same number of #.
            let hashes = rest[1..].chars().take_while(|&c| c == '#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else if c == '"' {
            let (_, after) = literal(rest).expect("unterminated string literal");
            out.push_str(&rest[..rest.len() - after.len()]);
            rest = after;
        } else if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            rest = &rest[end..];
        } else if c == '\'' && rest.len() >= 3 && rest[1..].chars().nth(1) == Some('\'') {
            // A char literal such as '"' must not open a string.
            let len = 1 + rest[1..].chars().next().unwrap().len_utf8() + 1;
            out.push_str(&rest[..len]);
            rest = &rest[len..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn skip_ws(s: &str) -> &str {
    s.trim_start()
}

/// Every `@tr(...)` of one .slint source.
fn slint_strings(src: &str, out: &mut BTreeMap<Key, Option<String>>) {
    let src = strip_comments(src);
    let mut rest = src.as_str();
    while let Some(at) = rest.find("@tr(") {
        let after = skip_ws(&rest[at + 4..]);
        let (first, mut tail) = literal(after).expect("@tr( must start with a string literal");
        let (context, id) = if let Some(t) = skip_ws(tail).strip_prefix("=>") {
            let (id, t) = literal(skip_ws(t)).expect("@tr(ctx => must be followed by a literal");
            tail = t;
            (Some(first), id)
        } else {
            (None, first)
        };
        let plural = match skip_ws(tail).strip_prefix('|') {
            Some(t) => {
                let (p, t) = literal(skip_ws(t)).expect("@tr(.. | must be followed by a literal");
                assert!(
                    skip_ws(t).starts_with('%'),
                    "plural @tr({id:?} | {p:?}) needs `% count`"
                );
                tail = t;
                Some(p)
            }
            None => None,
        };
        out.insert((context, id), plural);
        rest = tail;
    }
}

/// Every `Msg::new("...")` and `Msg::plural("...", "...", n)` of one Rust source, outside its
/// tests.
fn rust_strings(src: &str, out: &mut BTreeMap<Key, Option<String>>) {
    let shipped = src.split("#[cfg(test)]").next().unwrap_or_default();
    let src = strip_comments(shipped);
    for (pattern, plural) in [("Msg::new(", false), ("Msg::plural(", true)] {
        let mut rest = src.as_str();
        while let Some(at) = rest.find(pattern) {
            let after = skip_ws(&rest[at + pattern.len()..]);
            rest = after;
            let Some((id, tail)) = literal(after) else {
                panic!(
                    "{pattern} must take a string literal (the extractor reads it): {}",
                    &after[..after.len().min(60)]
                );
            };
            let plural_id = if plural {
                let t = skip_ws(tail)
                    .strip_prefix(',')
                    .expect("Msg::plural(one, many, n)");
                Some(
                    literal(skip_ws(t))
                        .expect("Msg::plural's second argument is a literal")
                        .0,
                )
            } else {
                None
            };
            // Placeholders alone ("{}", "{}{}") are data or sentences joined, shown as is.
            if !id.split("{}").all(str::is_empty) {
                out.insert((None, id), plural_id);
            }
        }
    }
}

fn used_strings() -> BTreeMap<Key, Option<String>> {
    let mut used = BTreeMap::new();
    let mut slint = Vec::new();
    files(&root().join("ui"), "slint", &mut slint);
    assert!(slint.len() > 20, "the .slint files were not found");
    for p in &slint {
        slint_strings(&std::fs::read_to_string(p).unwrap(), &mut used);
    }
    let mut rust = Vec::new();
    files(&root().join("src"), "rs", &mut rust);
    for p in rust
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
    {
        rust_strings(&std::fs::read_to_string(p).unwrap(), &mut used);
    }
    used
}

/// The placeholders of a text, sorted: `{}` as many times as it occurs, `{n}`, `{0}`...
fn placeholders(s: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        found.push(rest[open..open + close + 1].to_string());
        rest = &rest[open + close + 1..];
    }
    found.sort();
    found
}

fn po(lang: Language) -> (String, Vec<PoEntry>) {
    let path = root().join(format!(
        "ui/translations/{}/LC_MESSAGES/mfp-kiosk.po",
        lang.code()
    ));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = parse_po(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (file.header, file.entries)
}

#[test]
fn the_extractor_finds_the_strings_it_must() {
    let used = used_strings();
    // One of each kind: a .slint text, a .slint plural, a Rust text, a Rust plural.
    assert!(used.contains_key(&(None, "Tap your badge".to_string())));
    assert_eq!(
        used.get(&(None, "{n} job".to_string())),
        Some(&Some("{n} jobs".to_string()))
    );
    assert!(used.contains_key(&(None, "Signed out. See you soon.".to_string())));
    assert_eq!(
        used.get(&(None, "Wrong PIN. {n} attempt left.".to_string())),
        Some(&Some("Wrong PIN. {n} attempts left.".to_string()))
    );
    // Comments and tests are not the UI.
    let mut probe = BTreeMap::new();
    rust_strings(
        "// Msg::new(\"in a comment\")\nlet a = Msg::new(\"shipped\");\n#[cfg(test)]\nmod t { Msg::new(\"test only\"); }",
        &mut probe,
    );
    assert_eq!(
        probe.keys().map(|k| k.1.as_str()).collect::<Vec<_>>(),
        ["shipped"]
    );
    let mut probe = BTreeMap::new();
    slint_strings(
        "text: @tr(\"Menu\" => \"Open\"); // @tr(\"commented\")\nlabel: @tr(\"{n} a\" | \"{n} b\" % x);",
        &mut probe,
    );
    assert_eq!(probe.len(), 2);
    assert!(probe.contains_key(&(Some("Menu".to_string()), "Open".to_string())));
}

#[test]
fn every_string_is_translated_in_every_language_and_no_po_keeps_a_stale_one() {
    let used = used_strings();
    let mut problems = Vec::new();
    for lang in Language::ALL.into_iter().filter(|l| *l != Language::En) {
        let (header, entries) = po(lang);
        if !header.contains(&format!("Language: {}\n", lang.code())) {
            problems.push(format!("{lang}: header lacks `Language: {}`", lang.code()));
        }
        if !header.contains(&format!("Plural-Forms: {}\n", lang.plural_forms())) {
            problems.push(format!(
                "{lang}: header must say `Plural-Forms: {}`",
                lang.plural_forms()
            ));
        }
        let nplurals = if lang == Language::Ja { 1 } else { 2 };
        let mut seen = BTreeSet::new();
        for e in &entries {
            let key = (e.context.clone(), e.id.clone());
            if !seen.insert(key.clone()) {
                problems.push(format!("{lang}: {:?} appears twice", e.id));
            }
            let Some(plural) = used.get(&key) else {
                problems.push(format!("{lang}: {:?} is no longer used by the UI", e.id));
                continue;
            };
            if e.fuzzy {
                problems.push(format!("{lang}: {:?} is marked fuzzy", e.id));
            }
            let want_forms = if plural.is_some() { nplurals } else { 1 };
            if e.plural.is_some() != plural.is_some() || e.strs.len() != want_forms {
                problems.push(format!(
                    "{lang}: {:?} needs {want_forms} form(s){}",
                    e.id,
                    if plural.is_some() {
                        " (msgid_plural)"
                    } else {
                        ""
                    }
                ));
                continue;
            }
            for (i, s) in e.strs.iter().enumerate() {
                if s.trim().is_empty() {
                    problems.push(format!("{lang}: {:?} is not translated", e.id));
                    continue;
                }
                // A one-form language uses the plural source's placeholders.
                let source = match plural {
                    Some(p) if i > 0 || nplurals == 1 => p,
                    _ => &e.id,
                };
                if placeholders(s) != placeholders(source) {
                    problems.push(format!(
                        "{lang}: {:?} → {s:?} changes the placeholders {:?}",
                        e.id,
                        placeholders(source)
                    ));
                }
            }
        }
        for key in used.keys() {
            if !seen.contains(key) {
                problems.push(format!("{lang}: {:?} has no translation", key.1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} translation problem(s); run ui/translations/update.sh and fill in the .po files:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn rust_texts_render_in_each_language_with_their_arguments_and_plural_forms() {
    use mfp_kiosk::i18n::Msg;
    let wrong = |n| {
        Msg::plural(
            "Wrong PIN. {n} attempt left.",
            "Wrong PIN. {n} attempts left.",
            n,
        )
    };
    assert_eq!(
        wrong(1).render(Language::De),
        "Falsche PIN. Noch 1 Versuch."
    );
    assert_eq!(
        wrong(3).render(Language::De),
        "Falsche PIN. Noch 3 Versuche."
    );
    // French takes the singular for 0 as well, Japanese has one form.
    let pages = |n| Msg::plural("{n} page scanned", "{n} pages scanned", n);
    assert_eq!(pages(0).render(Language::Fr), "0 page numérisée");
    assert_eq!(pages(2).render(Language::Fr), "2 pages numérisées");
    assert_eq!(pages(7).render(Language::Ja), "7 ページをスキャンしました");
    let nested = Msg::new("Failed: {}").text(Msg::new("the destination folder no longer exists"));
    assert_eq!(
        nested.render(Language::Es),
        "Error: la carpeta de destino ya no existe"
    );
    assert_eq!(
        Msg::new("Welcome, {}")
            .arg("Adele Vance")
            .render(Language::Nl),
        "Welkom, Adele Vance"
    );
    // English is the source; data is never translated.
    assert_eq!(
        Msg::new("Welcome, {}").arg("Ann").render(Language::En),
        "Welcome, Ann"
    );
    assert_eq!(Msg::data("Sent").render(Language::De), "Sent");
}
