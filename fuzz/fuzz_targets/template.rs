//! The workflow file-name and folder templates (`workflows.file_name`, `workflows.folder`)
//! with directory values a user or an administrator controls (display name, attributes, the
//! picked folder). Whatever renders is a name (or folder path) OneDrive accepts, as checked by
//! the upload path's own `validate_name`.
#![no_main]

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use mfp_kiosk::graph::{folder_segments, validate_name};
use mfp_kiosk::workflow::profile;
use mfp_kiosk::workflow::template::{render, render_folder, TemplateContext};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Fields separated by `\t`: template, user, display name, workflow, picked folder, then
    // the value of the `department` attribute (folder lists are one value, split by profile).
    let mut f = text.split('\t');
    let template = f.next().unwrap_or_default();
    let user = f.next().unwrap_or("jdoe").to_string();
    let display_name = f.next().unwrap_or("J Doe").to_string();
    let workflow = f.next().unwrap_or("Scan").to_string();
    let folder = f.next().map(str::to_string);
    let department = f.next().unwrap_or("Sales");
    let mut attrs = serde_json::Map::new();
    attrs.insert("department".into(), department.into());
    let attributes = profile::attributes(&attrs);
    let _ = profile::folders(department);
    let ctx = TemplateContext {
        now: DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .fixed_offset(),
        upn: format!("{user}@contoso.example"),
        user,
        display_name,
        workflow,
        seq: 7,
        device: "panel".into(),
        attributes,
        folder,
    };
    if let Ok(name) = render(template, &ctx) {
        if let Err(e) = validate_name(&name) {
            panic!("{template:?} rendered {name:?}, which Graph refuses: {e}");
        }
    }
    if let Ok(folder) = render_folder(template, &ctx) {
        if let Err(e) = folder_segments(&folder) {
            panic!("{template:?} rendered folder {folder:?}, which Graph refuses: {e}");
        }
    }
});
