//! What the scan-settings-sheet UI tests add to the panel: their workflows and config, and
//! when the sheet counts as open.

use mfp_kiosk::config::{Config, WorkflowConfig};
use mfp_kiosk::kiosk::{View, ViewPage};

/// The open sheet, loaded.
pub fn sheet_open(v: &View) -> bool {
    v.page == ViewPage::ScanSheet && v.sheet.as_ref().is_some_and(|s| !s.loading)
}

/// A workflow like the demo's first one, changed by `f`.
pub fn workflow(config: &Config, f: impl FnOnce(&mut WorkflowConfig)) -> WorkflowConfig {
    let mut w = config.workflows[0].clone();
    f(&mut w);
    w
}

/// The demo config with its own state directory, no directory sync (the test stages the
/// profile itself), and `workflows` added.
pub fn config(state: &std::path::Path, workflows: Vec<WorkflowConfig>) -> Config {
    let mut config = super::demo_config(state);
    config.directory.enabled = false;
    config.directory.extra_attributes = vec!["extension_demo_folders".into()];
    config.workflows.extend(workflows);
    config.validate().expect("the test's workflows are valid");
    config
}
