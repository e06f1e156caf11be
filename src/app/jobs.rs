//! Scan jobs: scan to a spooled PDF, record the job in SQLite before telling the user anything,
//! then deliver it under the user's delegated token. Jobs that could not be delivered stay
//! queued; the outbox worker retries them with the user's cached refresh token.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::Local;
use tokio::sync::mpsc;

use super::controller::Answer;
use super::services::Services;
use super::signin::SessionTokens;
use crate::config::{DestinationConfig, WorkflowConfig};
use crate::graph::ConflictBehavior;
use crate::kiosk::Event;
use crate::scan::ScanOptions;
use crate::store::{JobRecord, JobState, NewJob};
use crate::workflow::template::{self, TemplateContext};

/// How often the outbox worker looks for queued jobs.
pub const OUTBOX_INTERVAL: Duration = Duration::from_secs(30);

/// Errors of a scan job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("workflow `{0}` is not configured")]
    UnknownWorkflow(String),
    #[error("user {0} is not in the identity cache")]
    UnknownUser(String),
    #[error("scan failed: {0}")]
    Scan(#[from] crate::scan::ScanError),
    #[error("the scan was cancelled")]
    Cancelled,
    #[error("file name template: {0}")]
    Template(#[from] template::TemplateError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("Graph: {0}")]
    Graph(#[from] crate::graph::GraphError),
    #[error("no access token: {0}")]
    Token(String),
    #[error("destination not supported by this build: {0}")]
    Unsupported(String),
    #[error("background task failed: {0}")]
    Task(String),
}

/// Runs a workflow for a signed-in user, reporting progress as kiosk events.
pub async fn run_workflow(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    oid: &str,
    workflow_id: &str,
    cancel: Arc<AtomicBool>,
    answer: &Answer,
) {
    let event = match scan_and_deliver(services, sessions, oid, workflow_id, cancel, answer).await {
        Ok(Delivered::Sent { file_name, folder, destination }) => Event::JobFinished {
            ok: true,
            title: format!("Sent to {destination}"),
            detail: format!("{file_name} is in {folder}"),
        },
        Ok(Delivered::Queued { reason }) => Event::JobFinished {
            ok: true,
            title: "Saved: will be sent shortly".into(),
            detail: format!("Your scan is safe on the printer and goes out automatically ({reason})."),
        },
        Err(JobError::Cancelled) => Event::JobFinished {
            ok: false,
            title: "Scan cancelled".into(),
            detail: "Nothing was sent.".into(),
        },
        Err(e) => {
            tracing::error!(error = %e, workflow_id, "scan job failed");
            Event::JobFinished { ok: false, title: "Scan failed".into(), detail: e.to_string() }
        }
    };
    answer.event(event);
}

enum Delivered {
    Sent { file_name: String, folder: String, destination: String },
    Queued { reason: String },
}

async fn scan_and_deliver(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    oid: &str,
    workflow_id: &str,
    cancel: Arc<AtomicBool>,
    answer: &Answer,
) -> Result<Delivered, JobError> {
    let wf = services
        .config
        .workflows
        .iter()
        .find(|w| w.id == workflow_id)
        .cloned()
        .ok_or_else(|| JobError::UnknownWorkflow(workflow_id.into()))?;
    let user = services.store.user_by_oid(oid)?.ok_or_else(|| JobError::UnknownUser(oid.into()))?;

    let job_id = uuid::Uuid::new_v4().to_string();
    let path = services.spool_path(&job_id);
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let s = services.clone();
    let scan_path = path.clone();
    let opts = scan_options(&wf);
    let scan = tokio::task::spawn_blocking(move || {
        let mut scanner = s.new_scanner();
        crate::scan::pdf::scan_to_pdf(scanner.as_mut(), &opts, &scan_path, &cancel, &mut |pages| {
            let _ = progress_tx.send(pages);
        })
    });
    while let Some(pages) = progress_rx.recv().await {
        answer.event(Event::ScanProgress { pages });
    }
    let output = match scan.await.map_err(|e| JobError::Task(e.to_string()))? {
        Ok(output) => output,
        Err(crate::scan::ScanError::Cancelled) => return Err(JobError::Cancelled),
        Err(e) => return Err(e.into()),
    };
    answer.event(Event::ScanDone { pages: output.pages, bytes: output.bytes });

    let seq = services.store.list_jobs(u32::MAX)?.len() as u64 + 1;
    let ctx = TemplateContext {
        now: Local::now().fixed_offset(),
        user: user.username.clone(),
        upn: user.upn.clone(),
        display_name: user.display_name.clone(),
        workflow: wf.label.clone(),
        seq,
        device: services.config.device.name.clone(),
    };
    let folder = template::render_folder(&wf.folder, &ctx)?;
    let file_name = template::render(&wf.file_name, &ctx)?;
    // The job is durable from here on: the PDF is fsync'd in the spool, the row is in SQLite.
    let job = services.store.insert_job(&NewJob {
        id: job_id,
        user_oid: oid.to_string(),
        workflow_id: wf.id.clone(),
        destination: serde_json::to_string(&wf.destination).unwrap_or_default(),
        folder: folder.clone(),
        file_name: file_name.clone(),
        spool_path: path.to_string_lossy().into_owned(),
        size_bytes: output.bytes,
        pages: output.pages,
    })?;
    services.audit(oid, "scan_queued", &job.id, &format!("{} pages", output.pages));

    let progress_answer = answer.clone();
    let progress: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |sent, total| {
        progress_answer.event(Event::UploadProgress { sent, total });
    });
    match deliver(services, sessions, &job, Some(progress)).await {
        Ok(()) => Ok(Delivered::Sent {
            file_name,
            folder: if folder.is_empty() { "your OneDrive".into() } else { folder },
            destination: wf.destination.display_name().to_string(),
        }),
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "delivery deferred to the outbox");
            services.store.update_job_state(&job.id, JobState::Queued, Some(&e.to_string()))?;
            Ok(Delivered::Queued { reason: short_reason(&e) })
        }
    }
}

fn short_reason(e: &JobError) -> String {
    match e {
        JobError::Token(_) => "waiting for the network".into(),
        JobError::Graph(g) if g.is_transient() => "the cloud service is busy".into(),
        _ => "will retry".into(),
    }
}

fn scan_options(wf: &WorkflowConfig) -> ScanOptions {
    ScanOptions {
        dpi: wf.resolution_dpi,
        color: wf.color_mode.into(),
        source: wf.source.into(),
        page_size: wf.page_size.into(),
    }
}

/// Uploads one recorded job under its owner's delegated token and marks it done.
pub async fn deliver(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    job: &JobRecord,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
) -> Result<(), JobError> {
    let token = match sessions.valid(&job.user_oid) {
        Some(t) => t,
        None => {
            let access = services
                .silent_refresh(&job.user_oid)
                .await
                .map_err(|e| JobError::Token(e.to_string()))?;
            access.token
        }
    };
    services.store.update_job_state(&job.id, JobState::Uploading, None)?;
    services.store.record_job_attempt(&job.id)?;
    let destination: DestinationConfig = serde_json::from_str(&job.destination)
        .map_err(|e| JobError::Unsupported(format!("unreadable destination: {e}")))?;
    let item = match destination {
        DestinationConfig::OneDrive => {
            services
                .graph
                .upload_small(
                    &token,
                    &job.folder,
                    &job.file_name,
                    std::path::Path::new(&job.spool_path),
                    ConflictBehavior::Rename,
                    progress,
                )
                .await?
        }
        other => return Err(JobError::Unsupported(other.display_name().to_string())),
    };
    services.store.mark_job_done(&job.id, &item.id, item.web_url.as_deref().unwrap_or(""))?;
    services.audit(&job.user_oid, "scan_delivered", &job.id, &item.name);
    if let Err(e) = std::fs::remove_file(&job.spool_path) {
        tracing::warn!(job = %job.id, error = %e, "delivered, but the spool file could not be removed");
    }
    Ok(())
}

/// Delivers queued jobs until the outbox is empty or a delivery fails (then waits for the next
/// round). Runs forever; spawn it once at start.
pub async fn outbox_worker(services: Arc<Services>, sessions: SessionTokens) {
    let mut interval = tokio::time::interval(OUTBOX_INTERVAL);
    loop {
        interval.tick().await;
        loop {
            let next = match services.store.next_queued_job() {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read queued jobs");
                    break;
                }
            };
            if let Err(e) = deliver(&services, &sessions, &next, None).await {
                tracing::warn!(job = %next.id, error = %e, "outbox: delivery failed, will retry");
                let _ = services.store.update_job_state(&next.id, JobState::Queued, Some(&e.to_string()));
                break;
            }
        }
    }
}
