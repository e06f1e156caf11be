//! File-name and folder templates ({date}, {user}, ...) and their sanitising for OneDrive/SharePoint.
//!
//! A template is literal text with placeholders in braces; `{{` and `}}` stand for literal
//! braces. Placeholders: `{date}` (YYYY-MM-DD), `{time}` (HHMMSS), `{user}`, `{upn}`,
//! `{display_name}`, `{workflow}`, `{seq}` (at least 4 digits, zero-padded) and `{device}`,
//! and from the user's directory profile `{department}` and `{attr:NAME}` (any attribute the
//! panel keeps: `jobTitle`, `employeeId`, `preferredLanguage` and `directory.extra_attributes`;
//! names compare case-insensitively). `{folder}` is the folder the user picked on the panel from
//! the workflow's `folder_attribute`; in a folder template its `/`s separate folders.
//!
//! A profile value the user does not have renders as nothing. A folder segment that consists
//! only of such empty values is left out (`Scans/{department}` is `Scans` for a user without a
//! department) rather than failing the scan; a name that ends up empty is still an error.
//!
//! Values come from users and the directory, so they are sanitised: the characters
//! `" * : < > ? / \ |` and control characters become `_`. A value can therefore never add a
//! path separator; only `/` written in a folder template separates folders. Each resulting name
//! (the file name, or each folder segment) loses leading and trailing spaces and dots, which
//! OneDrive and SharePoint refuse; a segment that is `.` or `..`, or that ends up empty, is an
//! error rather than something to guess about. Names that Windows and SharePoint reserve
//! (`CON`, `NUL`, `COM1`, ...), names starting with `~$` and names containing `_vti_` get a
//! harmless change so the upload is not rejected.
//!
//! Literal text in the template is the administrator's and is checked, not rewritten:
//! forbidden characters there are a configuration error found by [`validate`] at start-up.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};

/// Values the placeholders are filled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContext {
    /// Local wall-clock time of the scan, with its UTC offset.
    pub now: DateTime<FixedOffset>,
    pub user: String,
    pub upn: String,
    pub display_name: String,
    pub workflow: String,
    /// Per-device job counter.
    pub seq: u64,
    pub device: String,
    /// The user's directory attributes by name (see [`crate::workflow::profile`]).
    pub attributes: BTreeMap<String, String>,
    /// The folder picked on the panel, for `{folder}`.
    pub folder: Option<String>,
}

impl TemplateContext {
    /// The attribute `name`, compared case-insensitively; `None` when the user has none.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What is wrong with a template or its result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} (known: {KNOWN})")]
    UnknownPlaceholder(String),
    #[error("unclosed '{{' at position {0}; write '{{{{' for a literal brace")]
    UnclosedBrace(usize),
    #[error("unmatched '}}' at position {0}; write '}}}}' for a literal brace")]
    UnmatchedBrace(usize),
    #[error("character {0:?} is not allowed in OneDrive/SharePoint names")]
    ForbiddenCharacter(char),
    #[error("a file name template cannot contain '/'")]
    SeparatorInFileName,
    #[error("'{0}' is not allowed as a file or folder name")]
    DotSegment(String),
    #[error("the template produces an empty file or folder name")]
    EmptyName,
    #[error("the template is empty")]
    EmptyTemplate,
}

const KNOWN: &str =
    "date, time, user, upn, display_name, workflow, seq, device, department, attr:NAME, folder";

/// SharePoint rejects path components longer than this.
const MAX_SEGMENT_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Placeholder {
    Date,
    Time,
    User,
    Upn,
    DisplayName,
    Workflow,
    Seq,
    Device,
    /// A directory attribute (`{department}` is `Attr("department")`).
    Attr(String),
    Folder,
}

/// Whether `name` can be a directory attribute name (Graph property names, extension names).
pub fn is_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 120
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

impl Placeholder {
    fn parse(name: &str) -> Option<Self> {
        if let Some(attr) = name.strip_prefix("attr:") {
            return is_attribute_name(attr).then(|| Placeholder::Attr(attr.to_string()));
        }
        Some(match name {
            "department" => Placeholder::Attr("department".into()),
            "folder" => Placeholder::Folder,
            "date" => Placeholder::Date,
            "time" => Placeholder::Time,
            "user" => Placeholder::User,
            "upn" => Placeholder::Upn,
            "display_name" => Placeholder::DisplayName,
            "workflow" => Placeholder::Workflow,
            "seq" => Placeholder::Seq,
            "device" => Placeholder::Device,
            _ => return None,
        })
    }

    fn value(&self, ctx: &TemplateContext) -> String {
        match self {
            Placeholder::Attr(name) => ctx.attribute(name).unwrap_or_default().to_string(),
            Placeholder::Folder => ctx.folder.clone().unwrap_or_default(),
            Placeholder::Date => ctx.now.format("%Y-%m-%d").to_string(),
            Placeholder::Time => ctx.now.format("%H%M%S").to_string(),
            Placeholder::User => ctx.user.clone(),
            Placeholder::Upn => ctx.upn.clone(),
            Placeholder::DisplayName => ctx.display_name.clone(),
            Placeholder::Workflow => ctx.workflow.clone(),
            Placeholder::Seq => format!("{:04}", ctx.seq),
            Placeholder::Device => ctx.device.clone(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Literal(String),
    Slash,
    Value(Placeholder),
}

/// Splits a template into literal text, `/` separators and placeholders.
fn parse(template: &str) -> Result<Vec<Token>, TemplateError> {
    if template.is_empty() {
        return Err(TemplateError::EmptyTemplate);
    }
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((pos, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                chars.next();
                literal.push('{');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        // A brace inside a name means the first one was never closed.
                        Some((_, '{')) | None => return Err(TemplateError::UnclosedBrace(pos)),
                        Some((_, ch)) => name.push(ch),
                    }
                }
                let p = Placeholder::parse(&name).ok_or(TemplateError::UnknownPlaceholder(name))?;
                flush(&mut literal, &mut tokens);
                tokens.push(Token::Value(p));
            }
            '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err(TemplateError::UnmatchedBrace(pos)),
            '/' => {
                flush(&mut literal, &mut tokens);
                tokens.push(Token::Slash);
            }
            c if is_forbidden(c) => return Err(TemplateError::ForbiddenCharacter(c)),
            c => literal.push(c),
        }
    }
    flush(&mut literal, &mut tokens);
    Ok(tokens)
}

fn flush(literal: &mut String, tokens: &mut Vec<Token>) {
    if !literal.is_empty() {
        tokens.push(Token::Literal(std::mem::take(literal)));
    }
}

/// Characters OneDrive/SharePoint refuse in names, plus both path separators.
fn is_forbidden(c: char) -> bool {
    matches!(c, '"' | '*' | ':' | '<' | '>' | '?' | '/' | '\\' | '|') || c.is_control()
}

/// Makes a value safe to embed in one name.
fn sanitize_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect()
}

/// Turns the assembled text of one name into a name the service accepts.
fn finish_segment(raw: &str) -> Result<String, TemplateError> {
    if raw == "." || raw == ".." {
        return Err(TemplateError::DotSegment(raw.to_owned()));
    }
    let trimmed = raw.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return Err(TemplateError::EmptyName);
    }
    // Reserved names first, then the length: making a name safe can add a character
    // ("LPT2" -> "_LPT2"), which must not push it past the limit (found by fuzzing).
    let mut name: String = avoid_reserved(trimmed.to_owned())
        .chars()
        .take(MAX_SEGMENT_CHARS)
        .collect();
    // Truncation can expose a trailing space or dot again.
    let len = name
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .len();
    name.truncate(len);
    Ok(name)
}

/// Names SharePoint and Windows refuse outright: change them the least visible way.
fn avoid_reserved(mut name: String) -> String {
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved_device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved_device || name.eq_ignore_ascii_case("desktop.ini") {
        name.insert(0, '_');
    }
    // "~$" marks Office lock files; SharePoint refuses folders starting with "~" at all.
    if name.starts_with('~') {
        name.replace_range(0..1, "_");
    }
    // SharePoint blocks "_vti_" anywhere in a name.
    while let Some(i) = name.to_ascii_lowercase().find("_vti_") {
        name.replace_range(i + 4..i + 5, "-");
    }
    name
}

/// One name being assembled: its text, and whether it holds the administrator's literal text
/// or placeholders (a segment made only of empty profile values is dropped, see the module doc).
#[derive(Default)]
struct Segment {
    text: String,
    literal: bool,
    values: bool,
}

impl Segment {
    /// Nothing at all between two `/`s of the template (a leading or trailing `/`).
    fn is_void(&self) -> bool {
        !self.literal && !self.values
    }

    /// Only placeholders, all of them empty: the user lacks that attribute.
    fn is_blank(&self) -> bool {
        !self.literal && self.values && self.text.trim().is_empty()
    }
}

/// Fills the template and splits it into finished name segments at template `/`s (and, with
/// `folder_splits`, at the `/`s of the picked `{folder}`).
fn render_segments(
    tokens: &[Token],
    ctx: &TemplateContext,
    folder_splits: bool,
) -> Result<Vec<String>, TemplateError> {
    let mut segments = Vec::new();
    let mut current = Segment::default();
    for token in tokens {
        match token {
            Token::Literal(s) => {
                current.text.push_str(s);
                current.literal = true;
            }
            Token::Value(Placeholder::Folder) if folder_splits => {
                let value = Placeholder::Folder.value(ctx);
                let mut parts = value.split('/').peekable();
                while let Some(part) = parts.next() {
                    current.text.push_str(&sanitize_value(part));
                    current.values = true;
                    if parts.peek().is_some() {
                        segments.push(std::mem::take(&mut current));
                    }
                }
            }
            Token::Value(p) => {
                current.text.push_str(&sanitize_value(&p.value(ctx)));
                current.values = true;
            }
            Token::Slash => segments.push(std::mem::take(&mut current)),
        }
    }
    segments.push(current);
    // "/Scans/{user}/" means the same as "Scans/{user}": drive paths are relative to the root.
    if segments.len() > 1 && segments.first().is_some_and(Segment::is_void) {
        segments.remove(0);
    }
    if segments.len() > 1 && segments.last().is_some_and(Segment::is_void) {
        segments.pop();
    }
    if segments.iter().any(|s| !s.is_blank()) {
        segments.retain(|s| !s.is_blank());
    }
    segments.iter().map(|s| finish_segment(&s.text)).collect()
}

/// Renders a file-name template into one sanitised name.
pub fn render(template: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let tokens = parse(template)?;
    if tokens.contains(&Token::Slash) {
        return Err(TemplateError::SeparatorInFileName);
    }
    let mut segments = render_segments(&tokens, ctx, false)?;
    Ok(segments.pop().unwrap_or_default())
}

/// Renders a folder template into sanitised segments joined by `/`, without leading or
/// trailing slash (for example `Scans/2024-05-01/jdoe`).
pub fn render_folder(template: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    let mut segments = render_segments(&parse(template)?, ctx, true)?;
    if let Some(first) = segments
        .first_mut()
        .filter(|s| s.eq_ignore_ascii_case("forms"))
    {
        first.insert(0, '_');
    }
    Ok(segments.join("/"))
}

/// Checks a file-name template at configuration time: syntax, known placeholders, allowed
/// literal characters and a trial render with typical values.
pub fn validate(template: &str) -> Result<(), TemplateError> {
    render(template, &sample_context()).map(drop)
}

/// Like [`validate`], for folder templates (which may contain `/`).
pub fn validate_folder(template: &str) -> Result<(), TemplateError> {
    render_folder(template, &sample_context()).map(drop)
}

fn sample_context() -> TemplateContext {
    TemplateContext {
        now: DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap_or_default()
            .fixed_offset(),
        user: "jdoe".into(),
        upn: "jdoe@example.com".into(),
        display_name: "Jane Doe".into(),
        workflow: "Scan to OneDrive".into(),
        seq: 1,
        device: "mfp-1".into(),
        attributes: BTreeMap::from([("department".to_string(), "Finance".to_string())]),
        folder: Some("Projects".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TemplateContext {
        TemplateContext {
            now: DateTime::parse_from_rfc3339("2024-05-01T09:05:07+02:00").unwrap(),
            user: "jdoe".into(),
            upn: "jdoe@contoso.com".into(),
            display_name: "Jane Doe".into(),
            workflow: "Invoices".into(),
            seq: 42,
            device: "mfp-2nd-floor".into(),
            attributes: BTreeMap::new(),
            folder: None,
        }
    }

    #[test]
    fn fills_every_placeholder() {
        let out = render(
            "{date}_{time}_{user}_{upn}_{display_name}_{workflow}_{seq}_{device}.pdf",
            &ctx(),
        )
        .unwrap();
        assert_eq!(
            out,
            "2024-05-01_090507_jdoe_jdoe@contoso.com_Jane Doe_Invoices_0042_mfp-2nd-floor.pdf"
        );
    }

    #[test]
    fn local_time_is_used_not_utc() {
        let mut c = ctx();
        c.now = DateTime::parse_from_rfc3339("2024-12-31T23:30:00-05:00").unwrap();
        assert_eq!(render("{date} {time}", &c).unwrap(), "2024-12-31 233000");
    }

    #[test]
    fn seq_is_padded_but_never_truncated() {
        let mut c = ctx();
        c.seq = 7;
        assert_eq!(render("{seq}", &c).unwrap(), "0007");
        c.seq = 123_456;
        assert_eq!(render("{seq}", &c).unwrap(), "123456");
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert_eq!(
            render("{{user}} {{{user}}}", &ctx()).unwrap(),
            "{user} {jdoe}"
        );
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        assert_eq!(
            validate("scan_{usr}.pdf"),
            Err(TemplateError::UnknownPlaceholder("usr".into()))
        );
        assert_eq!(validate("scan_{user"), Err(TemplateError::UnclosedBrace(5)));
        assert_eq!(validate("a{b{user}}"), Err(TemplateError::UnclosedBrace(1)));
        assert_eq!(validate("scan}"), Err(TemplateError::UnmatchedBrace(4)));
        assert_eq!(
            validate("{}"),
            Err(TemplateError::UnknownPlaceholder(String::new()))
        );
        assert_eq!(validate(""), Err(TemplateError::EmptyTemplate));
        let msg = validate("{usr}").unwrap_err().to_string();
        assert!(
            msg.contains("{usr}") && msg.contains("display_name"),
            "{msg}"
        );
    }

    #[test]
    fn forbidden_literals_are_configuration_errors() {
        assert_eq!(
            validate("a:b.pdf"),
            Err(TemplateError::ForbiddenCharacter(':'))
        );
        assert_eq!(
            validate("a\\b"),
            Err(TemplateError::ForbiddenCharacter('\\'))
        );
        assert_eq!(
            validate("a\tb"),
            Err(TemplateError::ForbiddenCharacter('\t'))
        );
        assert_eq!(
            validate("Scans/{user}.pdf"),
            Err(TemplateError::SeparatorInFileName)
        );
        assert!(validate_folder("Scans/{user}").is_ok());
        assert!(validate("{workflow} {date}.pdf").is_ok());
    }

    #[test]
    fn values_cannot_inject_separators_or_traversal() {
        let mut c = ctx();
        c.user = "../../etc/passwd".into();
        assert_eq!(
            render_folder("Scans/{user}", &c).unwrap(),
            "Scans/_.._etc_passwd"
        );
        c.user = "..".into();
        // ".." as a whole segment is refused, never a parent directory.
        assert_eq!(
            render_folder("Scans/{user}", &c),
            Err(TemplateError::DotSegment("..".into()))
        );
        c.user = " .. ".into();
        assert_eq!(
            render_folder("Scans/{user}", &c),
            Err(TemplateError::EmptyName)
        );
        c.user = "a\\b/c".into();
        assert_eq!(render("{user}.pdf", &c).unwrap(), "a_b_c.pdf");
        c.display_name = "Evil\"*:<>?|Name\u{0}\n\u{7f}".into();
        assert_eq!(render("{display_name}", &c).unwrap(), "Evil_______Name___");
    }

    #[test]
    fn dot_segments_in_the_template_are_refused() {
        assert_eq!(
            validate_folder("Scans/../{user}"),
            Err(TemplateError::DotSegment("..".into()))
        );
        assert_eq!(
            validate_folder("./{user}"),
            Err(TemplateError::DotSegment(".".into()))
        );
        assert_eq!(
            validate_folder("Scans//{user}"),
            Err(TemplateError::EmptyName)
        );
    }

    #[test]
    fn leading_and_trailing_spaces_and_dots_are_trimmed_per_segment() {
        let mut c = ctx();
        c.user = "  .jdoe. ".into();
        assert_eq!(
            render_folder("Scans/{user}/ {workflow}.", &c).unwrap(),
            "Scans/jdoe/Invoices"
        );
        assert_eq!(render_folder("/Scans/{user}/", &c).unwrap(), "Scans/jdoe");
        c.display_name = "   ".into();
        assert_eq!(render("{display_name}", &c), Err(TemplateError::EmptyName));
    }

    #[test]
    fn reserved_names_are_defused() {
        let mut c = ctx();
        for (user, expect) in [
            ("CON", "_CON"),
            ("nul.pdf", "_nul.pdf"),
            ("com1", "_com1"),
            ("COM10", "COM10"),
            ("~$draft", "_$draft"),
            ("~tmp", "_tmp"),
            ("a_vti_b", "a_vti-b"),
            ("desktop.ini", "_desktop.ini"),
        ] {
            c.user = user.into();
            assert_eq!(render("{user}", &c).unwrap(), expect, "{user}");
        }
    }

    #[test]
    fn forms_is_only_changed_at_the_library_root() {
        let mut c = ctx();
        c.workflow = "Forms".into();
        assert_eq!(
            render_folder("{workflow}/{user}", &c).unwrap(),
            "_Forms/jdoe"
        );
        assert_eq!(
            render_folder("Scans/{workflow}", &c).unwrap(),
            "Scans/Forms"
        );
        assert_eq!(render("{workflow}", &c).unwrap(), "Forms");
    }

    #[test]
    fn overlong_names_are_cut_to_the_service_limit() {
        let mut c = ctx();
        c.display_name = "x".repeat(300);
        assert_eq!(
            render("{display_name}", &c).unwrap().chars().count(),
            MAX_SEGMENT_CHARS
        );
        c.display_name = format!("{}. tail", "y".repeat(254));
        let out = render("{display_name}", &c).unwrap();
        assert_eq!(out, "y".repeat(254));
        // A reserved device name gets its "_" and still fits.
        c.display_name = format!("LPT2.{}", "z".repeat(300));
        let out = render("{display_name}", &c).unwrap();
        assert!(out.starts_with("_LPT2."), "{out}");
        assert_eq!(out.chars().count(), MAX_SEGMENT_CHARS);
        crate::graph::validate_name(&out).unwrap();
    }

    #[test]
    fn unicode_values_pass_through() {
        let mut c = ctx();
        c.display_name = "Zoë Ångström 山田".into();
        assert_eq!(render("{display_name}", &c).unwrap(), "Zoë Ångström 山田");
    }
}
