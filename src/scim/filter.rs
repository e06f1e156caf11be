//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): the parser of the full
//! grammar (`eq ne co sw ew gt lt ge le pr`, `and or not`, parentheses, value paths such as
//! `emails[type eq "work"].value`), evaluation against one JSON element (PATCH value filters),
//! and the attribute paths PATCH uses. Which filters a listing can answer is decided by the
//! caller; this module only understands them. Every bad input is a [`FilterError`], never a
//! panic: inputs are bounded in length and nesting.

use serde_json::Value;

/// Longest filter or path accepted.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter is empty")]
    Empty,
    #[error("filter longer than {MAX_LEN} characters")]
    TooLong,
    #[error("filter nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unterminated string at character {0}")]
    UnterminatedString(usize),
    #[error("bad escape in string at character {0}")]
    BadEscape(usize),
    #[error("unexpected {found} at character {at}; expected {expected}")]
    Unexpected {
        found: String,
        at: usize,
        expected: &'static str,
    },
    #[error("{0:?} is not an attribute name")]
    BadAttribute(String),
    #[error("{0:?} is not a comparison operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr)")]
    BadOperator(String),
    #[error("{0:?} is not a value: use a \"string\", a number, true, false or null")]
    BadValue(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

/// `[urn:]attr[.sub]`, `attr[filter][.sub]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    /// The schema URN prefix as written, if any.
    pub urn: Option<String>,
    pub attr: String,
    /// A value filter on a multi-valued attribute (`emails[type eq "work"]`).
    pub filter: Option<Box<Filter>>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Value,
    },
    Present(AttrPath),
    /// `emails[type eq "work"]` alone: some element matches.
    Has(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
    LBracket,
    RBracket,
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            // Every whitespace the word scanner stops at, or it would never advance.
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((i, Tok::Open));
                i += 1
            }
            ')' => {
                out.push((i, Tok::Close));
                i += 1
            }
            '[' => {
                out.push((i, Tok::LBracket));
                i += 1
            }
            ']' => {
                out.push((i, Tok::RBracket));
                i += 1
            }
            '"' => {
                let start = i;
                let mut text = String::from('"');
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(FilterError::UnterminatedString(start));
                    };
                    text.push(c);
                    i += 1;
                    if c == '\\' {
                        let Some(&e) = chars.get(i) else {
                            return Err(FilterError::UnterminatedString(start));
                        };
                        text.push(e);
                        i += 1;
                    } else if c == '"' {
                        break;
                    }
                }
                // JSON string rules: the same escapes Entra and RFC 7644 use.
                let v: String =
                    serde_json::from_str(&text).map_err(|_| FilterError::BadEscape(start))?;
                out.push((start, Tok::Str(v)));
            }
            _ => {
                let start = i;
                let mut w = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    w.push(c);
                    i += 1;
                }
                out.push((start, Tok::Word(w)));
            }
        }
    }
    Ok(out)
}

fn is_name(s: &str) -> bool {
    s == "$ref"
        || (s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
}

/// Splits `urn:...:attr.sub` into its parts.
fn split_word(w: &str) -> Result<(Option<String>, String, Option<String>), FilterError> {
    let bad = || FilterError::BadAttribute(w.to_string());
    // `get`: the word may start with a multi-byte character.
    let (urn, rest) = if w.len() > 4 && w.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        let i = w.rfind(':').ok_or_else(bad)?;
        (Some(w[..i].to_string()), &w[i + 1..])
    } else {
        (None, w)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s)),
        None => (rest, None),
    };
    if !is_name(attr) || sub.is_some_and(|s| !is_name(s)) {
        return Err(bad());
    }
    Ok((urn, attr.to_string(), sub.map(str::to_string)))
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Open => "'('".into(),
        Tok::Close => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn unexpected(&self, expected: &'static str) -> FilterError {
        match self.toks.get(self.pos) {
            Some((at, t)) => FilterError::Unexpected {
                found: describe(t),
                at: *at,
                expected,
            },
            None => FilterError::Unexpected {
                found: "end of filter".into(),
                at: self.end,
                expected,
            },
        }
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.atom()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.atom()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Filter, FilterError> {
        self.enter()?;
        let f = self.atom_inner();
        self.depth -= 1;
        f
    }

    fn atom_inner(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") && matches!(self.toks.get(self.pos + 1), Some((_, Tok::Open))) {
            self.pos += 2;
            let inner = self.or()?;
            self.expect_close()?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect_close()?;
            return Ok(inner);
        }
        let path = self.path()?;
        let op = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            _ if path.filter.is_some() && path.sub.is_none() => return Ok(Filter::Has(path)),
            _ => return Err(self.unexpected("a comparison operator")),
        };
        let op = match op.to_ascii_lowercase().as_str() {
            "pr" => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "lt" => CompareOp::Lt,
            "ge" => CompareOp::Ge,
            "le" => CompareOp::Le,
            _ if path.filter.is_some() && path.sub.is_none() => return Ok(Filter::Has(path)),
            _ => return Err(FilterError::BadOperator(op)),
        };
        self.pos += 1;
        let value = match self.toks.get(self.pos) {
            Some((_, Tok::Str(s))) => Value::String(s.clone()),
            Some((_, Tok::Word(w))) => match w.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                n => match serde_json::from_str::<serde_json::Number>(n) {
                    Ok(n) => Value::Number(n),
                    Err(_) => return Err(FilterError::BadValue(w.clone())),
                },
            },
            _ => return Err(self.unexpected("a value")),
        };
        self.pos += 1;
        Ok(Filter::Compare { path, op, value })
    }

    fn expect_close(&mut self) -> Result<(), FilterError> {
        if self.peek() == Some(&Tok::Close) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected("')'"))
        }
    }

    fn path(&mut self) -> Result<AttrPath, FilterError> {
        let Some((_, Tok::Word(w))) = self.toks.get(self.pos).cloned() else {
            return Err(self.unexpected("an attribute name"));
        };
        self.pos += 1;
        let (urn, attr, sub) = split_word(&w)?;
        let mut path = AttrPath {
            urn,
            attr,
            filter: None,
            sub,
        };
        if path.sub.is_none() && self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            self.enter()?;
            let inner = self.or();
            self.depth -= 1;
            path.filter = Some(Box::new(inner?));
            if self.peek() != Some(&Tok::RBracket) {
                return Err(self.unexpected("']'"));
            }
            self.pos += 1;
            if let Some(Tok::Word(w)) = self.peek() {
                if let Some(sub) = w.strip_prefix('.') {
                    if !is_name(sub) {
                        return Err(FilterError::BadAttribute(w.clone()));
                    }
                    path.sub = Some(sub.to_string());
                    self.pos += 1;
                }
            }
        }
        Ok(path)
    }
}

fn check_len(s: &str) -> Result<(), FilterError> {
    if s.trim().is_empty() {
        return Err(FilterError::Empty);
    }
    if s.len() > MAX_LEN {
        return Err(FilterError::TooLong);
    }
    Ok(())
}

/// Parses a `filter` query parameter.
pub fn parse(s: &str) -> Result<Filter, FilterError> {
    check_len(s)?;
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: s.chars().count(),
        depth: 0,
    };
    let f = p.or()?;
    if p.pos != p.toks.len() {
        return Err(p.unexpected("'and', 'or' or the end of the filter"));
    }
    Ok(f)
}

/// Parses a PATCH `path` (an attribute path, optionally with a value filter and sub-attribute).
pub fn parse_path(s: &str) -> Result<AttrPath, FilterError> {
    check_len(s)?;
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: s.chars().count(),
        depth: 0,
    };
    let path = p.path()?;
    if p.pos != p.toks.len() {
        return Err(p.unexpected("the end of the path"));
    }
    Ok(path)
}

/// Looks a key up case-insensitively (SCIM attribute names are case-insensitive).
pub fn get_ci<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|e| e.1)
    })
}

fn cmp_str(op: CompareOp, a: &str, b: &str) -> bool {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        CompareOp::Gt => a > b,
        CompareOp::Lt => a < b,
        CompareOp::Ge => a >= b,
        CompareOp::Le => a <= b,
    }
}

fn compare(op: CompareOp, actual: Option<&Value>, expected: &Value) -> bool {
    match (actual, expected) {
        (Some(Value::String(a)), Value::String(b)) => cmp_str(op, a, b),
        (Some(Value::Bool(a)), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        // "True"/"False" strings as Entra sometimes sends them.
        (Some(Value::String(a)), Value::Bool(b)) => {
            compare(
                op,
                Some(&Value::Bool(a.eq_ignore_ascii_case("true"))),
                &Value::Bool(*b),
            ) && (a.eq_ignore_ascii_case("true") || a.eq_ignore_ascii_case("false"))
        }
        (Some(Value::Number(a)), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Gt => a > b,
                CompareOp::Lt => a < b,
                CompareOp::Ge => a >= b,
                CompareOp::Le => a <= b,
                _ => false,
            },
            _ => false,
        },
        (None | Some(Value::Null), Value::Null) => op == CompareOp::Eq,
        (Some(v), Value::Null) => op == CompareOp::Ne && !v.is_null(),
        (None, _) => op == CompareOp::Ne,
        _ => false,
    }
}

/// Whether one element of a multi-valued attribute (e.g. `{"type": "work", "value": ...}`)
/// matches a value filter. Attribute names inside compare case-insensitively; a primitive
/// element is addressed as `value`.
pub fn matches(f: &Filter, element: &Value) -> bool {
    let field = |p: &AttrPath| -> Option<&Value> {
        match element {
            Value::Object(o) => {
                let v = get_ci(o, &p.attr)?;
                match &p.sub {
                    Some(s) => v.as_object().and_then(|o| get_ci(o, s)),
                    None => Some(v),
                }
            }
            other if p.attr.eq_ignore_ascii_case("value") && p.sub.is_none() => Some(other),
            _ => None,
        }
    };
    match f {
        Filter::Compare { path, op, value } => compare(*op, field(path), value),
        Filter::Present(p) => field(p).is_some_and(|v| !v.is_null() && v != &Value::Array(vec![])),
        Filter::Has(p) => match (field(p), &p.filter) {
            (Some(Value::Array(items)), Some(inner)) => items.iter().any(|i| matches(inner, i)),
            (Some(v), Some(inner)) => matches(inner, v),
            _ => false,
        },
        Filter::And(a, b) => matches(a, element) && matches(b, element),
        Filter::Or(a, b) => matches(a, element) || matches(b, element),
        Filter::Not(a) => !matches(a, element),
    }
}

/// The `attr eq "value"` pairs of a filter made only of `eq` and `and`, else `None`: what a
/// PATCH that finds no element to change may create (`emails[type eq "work"]`).
pub fn eq_pairs(f: &Filter) -> Option<Vec<(String, Value)>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.filter.is_none() && path.sub.is_none() && path.urn.is_none() => {
            Some(vec![(path.attr.clone(), value.clone())])
        }
        Filter::And(a, b) => {
            let mut v = eq_pairs(a)?;
            v.extend(eq_pairs(b)?);
            Some(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_entra_sends() {
        let f = parse(r#"userName eq "6a1c2e3f-0000-4000-8000-1234567890ab""#).unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                op: CompareOp::Eq,
                ..
            }
        ));
        let f = parse(r#"emails[type eq "work"].value eq "a@contoso.com""#).unwrap();
        let Filter::Compare { path, .. } = f else {
            panic!("{f:?}")
        };
        assert_eq!(path.attr, "emails");
        assert_eq!(path.sub.as_deref(), Some("value"));
        let f = parse(r#"externalId eq "x" and userName eq "y""#).unwrap();
        assert!(matches!(f, Filter::And(..)));
        let f = parse(r#"displayName eq "Kiosk \"A\"""#).unwrap();
        let Filter::Compare { value, .. } = f else {
            panic!()
        };
        assert_eq!(value, json!("Kiosk \"A\""));
    }

    #[test]
    fn precedence_not_and_groups() {
        let f = parse(r#"a eq "1" or b eq "2" and c pr"#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        let f = parse(r#"not (a eq "1") and (b eq "2" or c eq "3")"#).unwrap();
        assert!(matches!(f, Filter::And(ref l, _) if matches!(**l, Filter::Not(_))));
    }

    #[test]
    fn bad_filters_are_errors() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "userName eq \"a",
            "userName eq \"a\" and",
            "(userName eq \"a\"",
            "emails[type eq \"work\"",
            "1abc eq \"a\"",
            "userName eq bare",
            "userName eq \"a\" extra",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse(&"(".repeat(100)), Err(FilterError::TooDeep));
        // A no-break space once made the tokenizer loop for ever.
        assert!(parse("userName\u{a0}eq\u{2028}\"a\"").is_ok());
    }

    #[test]
    fn paths_and_value_filters() {
        let p = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.filter.is_some());
        assert!(matches(
            p.filter.as_ref().unwrap(),
            &json!({"value": "2819C223"})
        ));
        let p = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
            .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr, "manager");
        let p = parse_path("name.givenName").unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("name", Some("givenName"))
        );
        assert!(parse_path("name givenName").is_err());
        let f = parse(r#"type eq "work" and primary eq true"#).unwrap();
        assert_eq!(eq_pairs(&f).unwrap().len(), 2);
    }
}
