//! The scan-settings-sheet keys of a workflow (`quick`, `allow_rename`, `resolutions`,
//! `more_pages`, `folder_attribute`) and the profile placeholders of its templates
//! (`{attr:NAME}`, `{folder}`): their rules and the resolutions the sheet offers.
//!
//! A profile attribute must be one the panel keeps (`department`, `jobTitle`, `employeeId`,
//! `preferredLanguage`, or one of `directory.extra_attributes`), or it would always be empty.

use super::{invalid, Config, ConfigError, ScanSource, WorkflowConfig};
use crate::scan::{MAX_DPI, MIN_DPI};

/// Attributes every profile keeps (see [`crate::store`]'s directory users).
const PROFILE_ATTRIBUTES: &[&str] = &["department", "jobTitle", "employeeId", "preferredLanguage"];

/// Offered when `resolutions` is not set (plus `resolution_dpi`).
const DEFAULT_RESOLUTIONS: &[u32] = &[150, 200, 300];

/// Most resolutions a sheet shows in its row of buttons.
const MAX_RESOLUTIONS: usize = 6;

impl WorkflowConfig {
    /// The resolutions the sheet may offer, ascending, `resolution_dpi` always among them.
    pub fn allowed_resolutions(&self) -> Vec<u32> {
        let mut list = if self.resolutions.is_empty() {
            DEFAULT_RESOLUTIONS.to_vec()
        } else {
            self.resolutions.clone()
        };
        list.push(self.resolution_dpi);
        list.sort_unstable();
        list.dedup();
        list
    }

    /// The `{attr:NAME}` names and `{folder}` uses in a template.
    fn profile_placeholders(template: &str) -> (Vec<String>, bool) {
        let mut attrs = Vec::new();
        let mut folder = false;
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let after = &rest[start + 1..];
            if let Some(stripped) = after.strip_prefix('{') {
                rest = stripped;
                continue;
            }
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            if let Some(a) = name.strip_prefix("attr:") {
                attrs.push(a.to_string());
            } else if name == "folder" {
                folder = true;
            }
            rest = &after[end + 1..];
        }
        (attrs, folder)
    }
}

impl Config {
    fn keeps_attribute(&self, name: &str) -> bool {
        PROFILE_ATTRIBUTES
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name))
            || self
                .directory
                .extra_attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name))
    }

    pub(super) fn validate_sheet_keys(
        &self,
        i: usize,
        w: &WorkflowConfig,
    ) -> Result<(), ConfigError> {
        let key = |field: &str| format!("workflows[{i}].{field}");
        if w.resolutions.len() > MAX_RESOLUTIONS {
            return Err(invalid(
                key("resolutions"),
                format!(
                    "at most {MAX_RESOLUTIONS} values fit on the sheet, got {}",
                    w.resolutions.len()
                ),
            ));
        }
        if let Some(bad) = w
            .resolutions
            .iter()
            .find(|d| !(MIN_DPI..=MAX_DPI).contains(d))
        {
            return Err(invalid(
                key("resolutions"),
                format!("values must be between {MIN_DPI} and {MAX_DPI}, got {bad}"),
            ));
        }
        if !w.resolutions.is_empty() && !w.resolutions.contains(&w.resolution_dpi) {
            return Err(invalid(
                key("resolutions"),
                format!(
                    "must include the default `resolution_dpi` ({}), got {:?}",
                    w.resolution_dpi, w.resolutions
                ),
            ));
        }
        if !w.more_pages && w.source != ScanSource::Flatbed {
            return Err(invalid(
                key("more_pages"),
                "only applies to flatbed workflows (the feeder takes the whole stack); \
                 remove it or set source = \"flatbed\"",
            ));
        }
        for (field, template) in [("folder", &w.folder), ("file_name", &w.file_name)] {
            let (attrs, _) = WorkflowConfig::profile_placeholders(template);
            if let Some(a) = attrs.iter().find(|a| !self.keeps_attribute(a)) {
                return Err(invalid(
                    key(field),
                    format!(
                        "`{{attr:{a}}}` is not an attribute the panel keeps; use department, \
                         jobTitle, employeeId or preferredLanguage, or add {a:?} to \
                         directory.extra_attributes"
                    ),
                ));
            }
        }
        let (_, folder_in_name) = WorkflowConfig::profile_placeholders(&w.file_name);
        let (_, folder_in_folder) = WorkflowConfig::profile_placeholders(&w.folder);
        match &w.folder_attribute {
            None if folder_in_folder || folder_in_name => {
                let field = if folder_in_folder {
                    "folder"
                } else {
                    "file_name"
                };
                Err(invalid(
                    key(field),
                    "`{folder}` is the folder the user picks from `folder_attribute`; set \
                     folder_attribute or remove `{folder}`",
                ))
            }
            None => Ok(()),
            Some(name) => {
                if !crate::workflow::template::is_attribute_name(name) {
                    return Err(invalid(
                        key("folder_attribute"),
                        format!("must be a directory attribute name, got {name:?}"),
                    ));
                }
                if !self.keeps_attribute(name) {
                    return Err(invalid(
                        key("folder_attribute"),
                        format!(
                            "{name:?} is not an attribute the panel keeps; add it to \
                             directory.extra_attributes"
                        ),
                    ));
                }
                if !folder_in_folder {
                    return Err(invalid(
                        key("folder"),
                        format!(
                            "must contain `{{folder}}` (where the picked folder goes, e.g. \
                             \"{{folder}}\" or \"Shared/{{folder}}\") because folder_attribute \
                             is set, got {:?}",
                            w.folder
                        ),
                    ));
                }
                if w.quick {
                    return Err(invalid(
                        key("quick"),
                        "a quick workflow has no sheet to pick the folder on; remove quick or \
                         folder_attribute",
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(toml_tail: &str) -> Result<Config, ConfigError> {
        let base = include_str!("../../device/kiosk.demo.toml");
        let s = format!("{base}\n{toml_tail}");
        Config::from_toml_str(&s)
    }

    fn workflow(extra: &str) -> String {
        format!(
            "[[workflows]]\nid = \"sheet-test\"\nlabel = \"Sheet test\"\ndestination = \
             \"onedrive\"\n{extra}\n"
        )
    }

    fn err_of(extra: &str) -> String {
        match with(&workflow(extra)) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted: {extra}"),
        }
    }

    #[test]
    fn sheet_keys_are_checked_and_errors_name_the_key() {
        let last = Config::demo_default().workflows.len();
        let k = |f: &str| format!("workflows[{last}].{f}");
        let e = err_of("resolutions = [150, 1200]\nresolution_dpi = 150");
        assert!(e.contains(&k("resolutions")) && e.contains("1200"), "{e}");
        let e = err_of("resolutions = [150, 200]\nresolution_dpi = 300");
        assert!(e.contains(&k("resolutions")) && e.contains("300"), "{e}");
        let e = err_of("source = \"adf\"\nmore_pages = false");
        assert!(e.contains(&k("more_pages")), "{e}");
        let e = err_of("folder = \"Scans/{attr:costCenter}\"");
        assert!(
            e.contains(&k("folder")) && e.contains("extra_attributes"),
            "{e}"
        );
        let e = err_of("folder = \"Shared/{folder}\"");
        assert!(
            e.contains(&k("folder")) && e.contains("folder_attribute"),
            "{e}"
        );
        let e = err_of("folder_attribute = \"jobTitle\"\nfolder = \"Scans\"");
        assert!(e.contains(&k("folder")) && e.contains("{folder}"), "{e}");
        let e = err_of("folder_attribute = \"costCenter\"\nfolder = \"{folder}\"");
        assert!(e.contains(&k("folder_attribute")), "{e}");
        let e = err_of("folder_attribute = \"jobTitle\"\nfolder = \"{folder}\"\nquick = true");
        assert!(e.contains(&k("quick")), "{e}");
        let e = err_of("folder_attribute = \"bad name\"\nfolder = \"{folder}\"");
        assert!(e.contains(&k("folder_attribute")), "{e}");
    }

    #[test]
    fn good_sheet_keys_are_accepted() {
        let c = with(&workflow(
            "resolutions = [300, 150]\nquick = false\nallow_rename = true\n\
             folder_attribute = \"employeeId\"\nfolder = \"Team/{department}/{folder}\"\n\
             file_name = \"{attr:jobTitle} {date}.pdf\"",
        ))
        .unwrap();
        let w = c.workflows.last().unwrap();
        assert_eq!(w.allowed_resolutions(), vec![150, 300]);
        assert!(w.allow_rename && w.more_pages);
        let plain = with(&workflow("resolution_dpi = 240")).unwrap();
        assert_eq!(
            plain.workflows.last().unwrap().allowed_resolutions(),
            vec![150, 200, 240, 300]
        );
    }
}
