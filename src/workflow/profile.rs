//! The signed-in user's directory profile as workflows use it: attribute values for the
//! `{department}` / `{attr:NAME}` placeholders of [`super::template`], and the list of the
//! user's own folders from a multi-valued attribute (a workflow's `folder_attribute`), from
//! which the user picks one on the panel.
//!
//! Attributes come from the directory sync (or the sign-in's profile fetch) as JSON values:
//! strings are taken as they are, numbers and booleans as their text, lists joined with ", ";
//! null and objects count as missing. Values are sanitised by the template module when they
//! become names, never here.

use std::collections::BTreeMap;

/// Most folders one attribute may offer: the picker is a list on a touch screen.
pub const MAX_FOLDERS: usize = 50;

/// Attribute values by name, from a directory profile's JSON object.
pub fn attributes(json: &serde_json::Map<String, serde_json::Value>) -> BTreeMap<String, String> {
    json.iter()
        .filter_map(|(k, v)| text(v).map(|t| (k.clone(), t)))
        .collect()
}

fn text(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Null | Value::Object(_) => None,
    }
}

/// The folders listed in `value` (comma-separated, as provisioning products keep a "folders"
/// extension attribute), trimmed, without empty entries or duplicates (compared
/// case-insensitively, as OneDrive compares names), leading and trailing `/` removed; at most
/// [`MAX_FOLDERS`], in the directory's order.
pub fn folders(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in value.split(',') {
        let folder = entry.trim().trim_matches('/').trim();
        if folder.is_empty() || out.iter().any(|f| f.eq_ignore_ascii_case(folder)) {
            continue;
        }
        out.push(folder.to_string());
        if out.len() == MAX_FOLDERS {
            break;
        }
    }
    out
}

/// The user's folders from attribute `name` of `attrs` (empty when they have none).
pub fn folders_of(attrs: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| folders(v))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::template::{
        render, render_folder, validate, TemplateContext, TemplateError,
    };
    use chrono::DateTime;

    fn ctx(attrs: &[(&str, &str)]) -> TemplateContext {
        TemplateContext {
            now: DateTime::parse_from_rfc3339("2026-12-01T09:05:07+01:00").unwrap(),
            user: "adele".into(),
            upn: "adele@contoso.com".into(),
            display_name: "Adele Vance".into(),
            workflow: "Invoices".into(),
            seq: 3,
            device: "mfp-1".into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            folder: None,
        }
    }

    #[test]
    fn department_and_named_attributes_fill_templates() {
        let c = ctx(&[
            ("department", "Finance"),
            ("jobTitle", "Controller"),
            ("extension_abc_costCenter", "CC-42"),
        ]);
        assert_eq!(
            render_folder("Departments/{department}/{attr:jobtitle}", &c).unwrap(),
            "Departments/Finance/Controller",
            "attribute names compare case-insensitively"
        );
        assert_eq!(
            render("{attr:extension_abc_costCenter} {date}.pdf", &c).unwrap(),
            "CC-42 2026-12-01.pdf"
        );
    }

    #[test]
    fn a_missing_attribute_renders_as_nothing_and_its_folder_level_is_left_out() {
        let c = ctx(&[]);
        assert_eq!(
            render_folder("Scans/{department}", &c).unwrap(),
            "Scans",
            "no department: the scan still lands, one level up"
        );
        assert_eq!(
            render_folder("Scans/{department}/{user}", &c).unwrap(),
            "Scans/adele"
        );
        assert_eq!(
            render("Scan {attr:employeeId}.pdf", &c).unwrap(),
            "Scan .pdf"
        );
        // Literal text beside the empty value keeps the level.
        assert_eq!(
            render_folder("Scans/Dept {department}", &c).unwrap(),
            "Scans/Dept"
        );
        // A name that is nothing at all is still refused, not guessed.
        assert_eq!(render("{department}", &c), Err(TemplateError::EmptyName));
        // Doubled slashes in the template stay an error: that is the administrator's typo.
        assert_eq!(
            render_folder("Scans//{department}", &ctx(&[("department", "HR")])),
            Err(TemplateError::EmptyName)
        );
    }

    #[test]
    fn unsafe_characters_in_attributes_cannot_escape_the_folder() {
        let c = ctx(&[
            ("department", "../../Finance/Secret"),
            ("jobTitle", "a:b*c?\"<>|\\d\n"),
        ]);
        assert_eq!(
            render_folder("Scans/{department}", &c).unwrap(),
            "Scans/_.._Finance_Secret"
        );
        assert_eq!(
            render("{attr:jobTitle}.pdf", &c).unwrap(),
            "a_b_c______d_.pdf"
        );
        let dots = ctx(&[("department", "..")]);
        assert_eq!(
            render_folder("Scans/{department}", &dots),
            Err(TemplateError::DotSegment("..".into()))
        );
    }

    #[test]
    fn bad_attribute_placeholders_are_template_errors() {
        assert_eq!(
            validate("{attr:} x.pdf"),
            Err(TemplateError::UnknownPlaceholder("attr:".into()))
        );
        assert_eq!(
            validate("{attr:has space}.pdf"),
            Err(TemplateError::UnknownPlaceholder("attr:has space".into()))
        );
        assert!(validate("{attr:extension_1a2b_folders}.pdf").is_ok());
    }

    #[test]
    fn the_picked_folder_may_hold_sub_folders_but_no_traversal() {
        let mut c = ctx(&[]);
        c.folder = Some("Projects/Alpha".into());
        assert_eq!(
            render_folder("Shared/{folder}", &c).unwrap(),
            "Shared/Projects/Alpha"
        );
        assert_eq!(render("{folder}.pdf", &c).unwrap(), "Projects_Alpha.pdf");
        c.folder = Some("../etc".into());
        assert_eq!(
            render_folder("Shared/{folder}", &c),
            Err(TemplateError::DotSegment("..".into()))
        );
    }

    #[test]
    fn folder_lists_are_split_trimmed_and_deduplicated() {
        assert_eq!(
            folders(" Finance ,Projects/Alpha/, ,finance,HR,"),
            vec!["Finance", "Projects/Alpha", "HR"]
        );
        assert!(folders("").is_empty());
        let many: Vec<String> = (0..80).map(|i| format!("F{i}")).collect();
        assert_eq!(folders(&many.join(",")).len(), MAX_FOLDERS);
    }

    #[test]
    fn json_values_become_text() {
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"department":"Finance","employeeId":1234,"folders":["A","B"],"gone":null,"o":{}}"#,
        )
        .unwrap();
        let a = attributes(&json);
        assert_eq!(a["department"], "Finance");
        assert_eq!(a["employeeId"], "1234");
        assert_eq!(folders_of(&a, "FOLDERS"), vec!["A", "B"]);
        assert!(!a.contains_key("gone") && !a.contains_key("o"));
    }
}
