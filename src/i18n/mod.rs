//! Languages of the panel and the text that Rust hands to the UI.
//!
//! The `.slint` files translate their own strings with `@tr()` (bundled at build time, see
//! build.rs). Text that Rust produces for the panel (refusals, results, prompts with a name in
//! them) is never an English sentence: it is a [`Msg`], a gettext msgid (the English source
//! with `{}` placeholders) plus its arguments, and the UI adapter renders it in the panel's
//! current [`Language`] from the same `.po` files ([`catalog`]). The kiosk machine carries
//! `Msg`s and stays pure; tests compare them with the English rendering.
//!
//! Every `Msg::new("...")` / `Msg::plural("...", "...", n)` literal in `src/` is a msgid:
//! `ui/translations/update.sh` extracts them beside the `@tr()` strings, and the
//! `translations` test fails when one lacks a translation.

pub mod catalog;

use std::fmt;

/// A language the panel speaks. English is the source language of every string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    #[default]
    En,
    De,
    Fr,
    Es,
    Nl,
    Ja,
}

impl Language {
    /// Every language, in the order of the idle page's list.
    pub const ALL: [Language; 6] = [
        Language::En,
        Language::De,
        Language::Fr,
        Language::Es,
        Language::Nl,
        Language::Ja,
    ];

    /// The code used in the config, the `.po` folder names and `select_bundled_translation`.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Nl => "nl",
            Language::Ja => "ja",
        }
    }

    /// The language's name in itself, as the idle page lists it.
    pub fn native_name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::De => "Deutsch",
            Language::Fr => "Français",
            Language::Es => "Español",
            Language::Nl => "Nederlands",
            Language::Ja => "日本語",
        }
    }

    /// A language code ("de"), or a BCP 47 tag as Entra's `preferredLanguage` holds it
    /// ("de-CH", "fr_FR", "ja-JP"): the base language decides. `None` for a language the
    /// panel does not speak.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let base = tag
            .trim()
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Language::ALL.into_iter().find(|l| l.code() == base)
    }

    /// Which plural form (index into a `.po` entry's `msgstr[i]`) a count takes. These are
    /// the formulas of the `Plural-Forms` headers; the `translations` test checks each header
    /// says the same.
    pub fn plural_index(self, n: i64) -> usize {
        match self {
            Language::Ja => 0,
            Language::Fr => usize::from(n > 1),
            _ => usize::from(n != 1),
        }
    }

    /// The `Plural-Forms` header each `.po` file must carry.
    pub fn plural_forms(self) -> &'static str {
        match self {
            Language::Ja => "nplurals=1; plural=0;",
            Language::Fr => "nplurals=2; plural=(n > 1);",
            _ => "nplurals=2; plural=(n != 1);",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Text for the panel that Rust decided on: a msgid with its arguments, rendered in a
/// language by [`Msg::render`]. Arguments are data (names, file names, sizes), never
/// sentences; a sentence inside a sentence is a nested [`Msg`] rendered first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Msg {
    id: &'static str,
    /// The English plural msgid ("" when the text has no count).
    plural: &'static str,
    n: i64,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Arg {
    Data(String),
    Text(Msg),
}

impl Msg {
    /// A text without count. `id` must be a string literal (the extractor reads it).
    pub const fn new(id: &'static str) -> Msg {
        Msg {
            id,
            plural: "",
            n: 0,
            args: Vec::new(),
        }
    }

    /// A text with a count `n`, shown as `{n}` in both forms.
    pub fn plural(one: &'static str, many: &'static str, n: i64) -> Msg {
        Msg {
            id: one,
            plural: many,
            n,
            args: Vec::new(),
        }
    }

    /// Text that is data and needs no translation (a workflow's own label): shown as is.
    pub fn data(text: impl Into<String>) -> Msg {
        Msg::new("{}").arg(text.into())
    }

    /// Fills the next `{}` with data.
    pub fn arg(mut self, value: impl fmt::Display) -> Msg {
        self.args.push(Arg::Data(value.to_string()));
        self
    }

    /// Fills the next `{}` with another text, rendered in the same language.
    pub fn text(mut self, value: Msg) -> Msg {
        self.args.push(Arg::Text(value));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty() || (self.id == "{}" && self.to_string().is_empty())
    }

    /// The msgid (English source).
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The text in `lang` (English where a translation is missing).
    pub fn render(&self, lang: Language) -> String {
        if self.id.is_empty() {
            return String::new();
        }
        let template = catalog::lookup(lang, self.id, self.plural, self.n).unwrap_or_else(|| {
            if !self.plural.is_empty() && Language::En.plural_index(self.n) == 1 {
                self.plural
            } else {
                self.id
            }
        });
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a {
                Arg::Data(s) => s.clone(),
                Arg::Text(m) => m.render(lang),
            })
            .collect();
        fill(template, &args, self.n)
    }

    /// The English text; what tests and logs compare.
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.to_string().starts_with(prefix)
    }

    pub fn ends_with(&self, suffix: &str) -> bool {
        self.to_string().ends_with(suffix)
    }
}

/// Replaces `{}` (in order), `{0}`..`{9}` (by position) and `{n}` (the count), as Slint's
/// `@tr()` does, so one `.po` file serves both.
fn fill(template: &str, args: &[String], n: i64) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut next = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            out.push('{');
            rest = stripped;
            continue;
        }
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let key = &after[..close];
        match key {
            "" => {
                out.push_str(args.get(next).map(String::as_str).unwrap_or_default());
                next += 1;
            }
            "n" => out.push_str(&n.to_string()),
            k => match k.parse::<usize>() {
                Ok(i) => out.push_str(args.get(i).map(String::as_str).unwrap_or_default()),
                Err(_) => out.push_str(&rest[open..open + close + 2]),
            },
        }
        rest = &after[close + 1..];
    }
    out.push_str(&rest.replace("}}", "}"));
    out
}

impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Language::En))
    }
}

impl PartialEq<&str> for Msg {
    fn eq(&self, other: &&str) -> bool {
        self.render(Language::En) == *other
    }
}

impl PartialEq<String> for Msg {
    fn eq(&self, other: &String) -> bool {
        self.render(Language::En) == *other
    }
}

impl PartialEq<str> for Msg {
    fn eq(&self, other: &str) -> bool {
        self.render(Language::En) == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_fills_placeholders_in_order_by_position_and_count() {
        assert_eq!(
            Msg::new("Welcome, {}").arg("Ann").to_string(),
            "Welcome, Ann"
        );
        assert_eq!(
            fill("{1} then {0}", &["a".into(), "b".into()], 0),
            "b then a"
        );
        assert_eq!(
            Msg::plural("{n} page", "{n} pages", 1).to_string(),
            "1 page"
        );
        assert_eq!(
            Msg::plural("{n} page", "{n} pages", 3).to_string(),
            "3 pages"
        );
        assert!(Msg::default().is_empty());
        assert!(Msg::data("").is_empty());
        assert!(!Msg::data("x").is_empty());
    }

    #[test]
    fn nested_texts_render_in_the_same_language() {
        let m = Msg::new("Sign-in refused: {}").text(Msg::new("Wrong PIN."));
        assert_eq!(m.to_string(), "Sign-in refused: Wrong PIN.");
    }

    #[test]
    fn preferred_language_tags_map_to_the_base_language() {
        assert_eq!(Language::from_tag("de-CH"), Some(Language::De));
        assert_eq!(Language::from_tag("fr_FR"), Some(Language::Fr));
        assert_eq!(Language::from_tag("JA-jp"), Some(Language::Ja));
        assert_eq!(Language::from_tag("en"), Some(Language::En));
        assert_eq!(Language::from_tag("pt-BR"), None);
        assert_eq!(Language::from_tag(""), None);
    }

    #[test]
    fn plural_index_follows_each_language_rule() {
        assert_eq!(Language::Fr.plural_index(0), 0);
        assert_eq!(Language::De.plural_index(0), 1);
        assert_eq!(Language::Ja.plural_index(5), 0);
        assert_eq!(Language::Nl.plural_index(1), 0);
    }
}
