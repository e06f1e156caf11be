//! The controller's side of the scan settings sheet: gathers what the sheet shows (the
//! workflow's defaults, the scanner's abilities asked of the device, the user's folders from
//! their directory profile, the file name as the template renders it) and turns the chosen
//! [`JobSettings`] into the job's folder and file name, checked again at scan time.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Local;

use super::services::Services;
use crate::config::WorkflowConfig;
use crate::identity::UserRecord;
use crate::kiosk::scan_sheet::{check_name, JobSettings, SheetEvent, SheetSpec, Sides};
use crate::scan::ScanSource;
use crate::workflow::profile;
use crate::workflow::template::{self, TemplateContext};

/// Why a job's settings cannot be used (checked again when the scan starts).
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("this workflow needs one of your folders, and none was picked")]
    NoFolder,
    #[error("the folder {0:?} is not one of yours")]
    NotYourFolder(String),
    #[error("the file name is not usable: {0:?}")]
    BadName(crate::kiosk::scan_sheet::NameProblem),
}

/// How a job scans: the sheet's settings (`None` = the workflow's defaults) and, for a flatbed
/// job that asks "Another page?", where the answers arrive.
#[derive(Default)]
pub struct JobPlan {
    pub settings: Option<JobSettings>,
    pub answers: Option<std::sync::mpsc::Receiver<bool>>,
    /// At the panel: how long the user waits for the upload to start before the result page
    /// says the scan is queued (the delivery goes on regardless). `None` waits for the outcome.
    pub upload_start_grace: Option<std::time::Duration>,
}

/// The workflow's own settings, as a quick workflow (or the `scan` command) scans with.
pub fn default_settings(wf: &WorkflowConfig) -> JobSettings {
    let o = super::jobs::scan_options(wf);
    JobSettings {
        sides: if o.source == ScanSource::AdfDuplex {
            Sides::Two
        } else {
            Sides::One
        },
        color: o.color,
        dpi: o.dpi,
        page_size: o.page_size,
        source: o.source,
        folder: None,
        file_name: None,
        more_pages: wf.more_pages && o.source == ScanSource::Flatbed,
    }
}

/// The directory attributes the panel keeps for `oid` (empty when it has none).
pub fn user_attributes(services: &Services, oid: &str) -> BTreeMap<String, String> {
    match services.store.dir_attributes(oid) {
        Ok(Some(json)) => profile::attributes(&json),
        Ok(None) => BTreeMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the user's directory attributes");
            BTreeMap::new()
        }
    }
}

/// The template values of a job of `user` on `wf`.
pub fn template_context(
    services: &Services,
    user: &UserRecord,
    wf: &WorkflowConfig,
    attributes: BTreeMap<String, String>,
    folder: Option<String>,
    seq: u64,
) -> TemplateContext {
    // A local account's username is its generated id; `{user}` should name the person.
    let local = matches!(
        services.store.login_method(&user.oid),
        Ok(Some(crate::identity::LoginMethod::Local))
    );
    TemplateContext {
        now: Local::now().fixed_offset(),
        user: if local {
            user.display_name.clone()
        } else {
            user.username.clone()
        },
        upn: user.upn.clone(),
        display_name: user.display_name.clone(),
        workflow: wf.label.clone(),
        seq,
        device: services.config.device.name.clone(),
        attributes,
        folder,
    }
}

/// Everything the sheet of `workflow_id` needs for `oid`, as the machine's answer. Blocking:
/// asks the scanner (SANE opens the device).
pub fn prepare(services: &Arc<Services>, oid: &str, workflow_id: &str) -> Option<SheetEvent> {
    let wf = services.config.workflow(workflow_id)?.clone();
    let user = match services.store.user_by_oid(oid) {
        Ok(Some(u)) => u,
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the user for the scan sheet");
            return None;
        }
    };
    let attributes = user_attributes(services, oid);
    let folders = wf
        .folder_attribute
        .as_deref()
        .map(|a| profile::folders_of(&attributes, a));
    let seq = services
        .store
        .list_jobs(usize::MAX)
        .map_or(1, |j| j.len() as u64 + 1);
    let ctx = template_context(services, &user, &wf, attributes, None, seq);
    let file_name = template::render(&wf.file_name, &ctx).map_err(|e| e.to_string());
    let caps = match services.new_scanner().capabilities() {
        Ok(caps) => Some(caps),
        Err(e) => {
            tracing::warn!(error = %e, "the scanner did not say what it can do");
            None
        }
    };
    let d = default_settings(&wf);
    let spec = SheetSpec {
        workflow_id: wf.id.clone(),
        label: wf.label.clone(),
        source: d.source,
        color: d.color,
        dpi: d.dpi,
        page_size: d.page_size,
        resolutions: wf.allowed_resolutions(),
        allow_rename: wf.allow_rename,
        more_pages: wf.more_pages,
        file_name,
        folders,
    };
    Some(SheetEvent::Ready {
        spec: Box::new(spec),
        caps,
    })
}

/// The folder and file name of a job with `settings`, checked against the user's own folders
/// and the name rules again (the sheet only offered valid ones; this is the last word).
pub fn folder_and_name(
    wf: &WorkflowConfig,
    settings: &JobSettings,
    ctx: &mut TemplateContext,
) -> Result<(String, String), super::jobs::JobError> {
    if let Some(attr) = &wf.folder_attribute {
        let Some(picked) = &settings.folder else {
            return Err(SheetError::NoFolder.into());
        };
        let mine = profile::folders_of(&ctx.attributes, attr);
        if !mine.iter().any(|f| f == picked) {
            return Err(SheetError::NotYourFolder(picked.clone()).into());
        }
        ctx.folder = Some(picked.clone());
    }
    let folder = template::render_folder(&wf.folder, ctx)?;
    let file_name = match (&settings.file_name, wf.allow_rename) {
        (Some(typed), true) => check_name(typed).map_err(SheetError::BadName)?,
        _ => template::render(&wf.file_name, ctx)?,
    };
    Ok((folder, file_name))
}
