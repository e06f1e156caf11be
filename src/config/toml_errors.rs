//! Maps errors from the TOML deserializer to [`ConfigError`]s that name the key: the deserializer
//! reports a byte span and a message, so the table path is recovered from the text around it.

use std::collections::HashMap;

use super::{invalid, ConfigError};

pub(super) fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Turns a serde error from a grammatically valid file into an error that names the key.
pub(super) fn classify_data_error(src: &str, e: &toml::de::Error) -> ConfigError {
    let msg = e.message().trim();
    let span = e.span();
    let offset = span.as_ref().map(|r| r.start).unwrap_or(0);
    let (line, column) = line_col(src, offset);
    // An empty span, or one over the whole document, means the root table (a missing `[entra]`).
    let whole_doc = span
        .as_ref()
        .is_some_and(|r| r.is_empty() || (r.start == 0 && r.end >= src.trim_end().len()));
    let loc = span.filter(|_| !whole_doc).map(|r| locate(src, r.start));
    let join = |table: &str, key: &str| {
        if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        }
    };

    if let Some(field) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let key = match &loc {
            // An unknown table: the span is its header, whose path is the key.
            Some(l) if l.on_header => l.header_path.clone(),
            Some(l) => join(&l.table_path(), field),
            None => field.to_string(),
        };
        let expected = backticked(msg.split_once("expected").map(|x| x.1).unwrap_or(""));
        return ConfigError::UnknownKey {
            key,
            line,
            suggestion: closest(field, &expected),
        };
    }
    if let Some(field) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let table = loc.as_ref().map(|l| l.table.clone()).unwrap_or_default();
        let key = join(&table, field);
        let hint = missing_hint(&key);
        return ConfigError::Missing { key, hint };
    }
    match loc.and_then(|l| l.value_key.clone().map(|k| join(&l.table_path(), &k))) {
        Some(key) => invalid(key, format!("{msg} (line {line})")),
        None => ConfigError::Syntax {
            line,
            column,
            message: one_line(msg),
        },
    }
}

fn missing_hint(key: &str) -> String {
    let field = key.rsplit('.').next().unwrap_or(key);
    match field {
        "entra" => "add an [entra] section with tenant and client_id".into(),
        "tenant" => {
            "set it to the Directory (tenant) ID, a verified domain, or \"organizations\"".into()
        }
        "client_id" => "set it to the Application (client) ID of the app registration".into(),
        "id" => "give the workflow a unique slug such as \"scan-to-onedrive\"".into(),
        "label" => "give the workflow the label shown on its button".into(),
        "destination" => "set it to \"onedrive\" or \"sharepoint\"".into(),
        "device" => {
            "set the input device: a path, \"name:<device name>\" or \"usb:VVVV:PPPP\"".into()
        }
        _ => "see device/kiosk.example.toml".into(),
    }
}

/// Where in the document an offset lies: the enclosing table and the key on that line.
struct Location {
    /// Header path, e.g. `session` or `workflows[1]` (array-of-tables element, 0-based).
    table: String,
    /// Inline-table key that encloses the offset, e.g. `keyboard_wedge` in `keyboard_wedge = {`.
    inline_parent: Option<String>,
    /// Key whose value starts at the offset, if any.
    value_key: Option<String>,
    /// The offset is on a `[table]` or `[[array]]` header line.
    on_header: bool,
    /// Dotted name of the last header seen, without array indices.
    header_path: String,
}

impl Location {
    fn table_path(&self) -> String {
        match (&self.inline_parent, self.table.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{}.{p}", self.table),
            (None, _) => self.table.clone(),
        }
    }
}

fn locate(src: &str, offset: usize) -> Location {
    let mut table = String::new();
    let mut header_path = String::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut pos = 0;
    for line in src.split_inclusive('\n') {
        let start = pos;
        pos += line.len();
        let t = line.trim_start();
        let mut on_header = false;
        if let Some(rest) = t.strip_prefix("[[") {
            if let Some(end) = rest.find("]]") {
                let name = rest[..end].trim().to_string();
                let n = counts.entry(name.clone()).or_insert(0);
                table = format!("{name}[{n}]");
                *n += 1;
                header_path = name;
                on_header = true;
            }
        } else if let Some(rest) = t.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                table = rest[..end].trim().to_string();
                header_path = table.clone();
                on_header = true;
            }
        }
        if offset < pos {
            let prefix = line.get(..offset - start).unwrap_or("");
            return Location {
                table,
                inline_parent: inline_parent(prefix),
                value_key: key_before_value(prefix),
                on_header,
                header_path,
            };
        }
    }
    Location {
        table,
        inline_parent: None,
        value_key: None,
        on_header: false,
        header_path,
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// In `  name = ` (text before a value) returns `name`.
fn key_before_value(prefix: &str) -> Option<String> {
    let before_eq = prefix.trim_end().strip_suffix('=')?.trim_end();
    let start = before_eq
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_key_char(c) || c == '.')
        .last()
        .map(|(i, _)| i)?;
    Some(before_eq[start..].to_string())
}

/// In `keyboard_wedge = { device = "x", ` returns `keyboard_wedge`.
fn inline_parent(prefix: &str) -> Option<String> {
    let open = prefix.rfind('{')?;
    if prefix[open..].contains('}') {
        return None;
    }
    key_before_value(&prefix[..open])
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn closest(word: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let s = "a = 1\nbb = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 11), (2, 6));
    }

    #[test]
    fn locate_finds_tables_and_keys() {
        let s = "[a]\nx = 1\n[[w]]\nid = 2\n[[w]]\nid = 3\nr = { d = 4 }\n";
        let off = s.find("3").unwrap();
        let l = locate(s, off);
        assert_eq!(l.table, "w[1]");
        assert_eq!(l.value_key.as_deref(), Some("id"));
        let off = s.find("4").unwrap();
        let l = locate(s, off);
        assert_eq!(l.table_path(), "w[1].r");
        assert_eq!(l.value_key.as_deref(), Some("d"));
    }

    #[test]
    fn suggestions_pick_close_names() {
        let c = vec![
            "inactivity_timeout_secs".to_string(),
            "countdown_secs".to_string(),
        ];
        assert_eq!(
            closest("inactivity_timout_secs", &c).as_deref(),
            Some("inactivity_timeout_secs")
        );
        assert_eq!(closest("colour", &c), None);
    }
}
