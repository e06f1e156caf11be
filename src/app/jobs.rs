//! Scan jobs: scan to a spooled PDF, record the job in SQLite before telling the user anything,
//! then deliver it under the user's delegated token. Jobs that could not be delivered stay
//! queued; the outbox worker retries them with the user's cached refresh token.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, Utc};
use tokio::sync::mpsc;

use super::controller::Answer;
use super::services::destination_name;
use super::services::Services;
use super::signin::SessionTokens;
use crate::config::{Destination, WorkflowConfig};
use crate::graph::ConflictBehavior;
use crate::kiosk::Event;
use crate::scan::ScanOptions;
use crate::store::{JobRecord, NewJob};
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
    Scan(#[from] crate::scan::pdf::PdfError),
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
        Ok(Delivered::Sent {
            file_name,
            folder,
            destination,
        }) => Event::JobFinished {
            ok: true,
            title: format!("Sent to {destination}"),
            detail: format!("{file_name} is in {folder}"),
        },
        Ok(Delivered::Queued { reason }) => Event::JobFinished {
            ok: true,
            title: "Saved: will be sent shortly".into(),
            detail: format!(
                "Your scan is safe on the printer and goes out automatically ({reason})."
            ),
        },
        Err(JobError::Cancelled) => Event::JobFinished {
            ok: false,
            title: "Scan cancelled".into(),
            detail: "Nothing was sent.".into(),
        },
        Err(e) => {
            tracing::error!(error = %e, workflow_id, "scan job failed");
            Event::JobFinished {
                ok: false,
                title: "Scan failed".into(),
                detail: e.to_string(),
            }
        }
    };
    answer.event(event);
}

enum Delivered {
    Sent {
        file_name: String,
        folder: String,
        destination: String,
    },
    Queued {
        reason: String,
    },
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
    let user = services
        .store
        .user_by_oid(oid)?
        .ok_or_else(|| JobError::UnknownUser(oid.into()))?;

    let job_id = uuid::Uuid::new_v4();
    let path = services.spool_path(&job_id.to_string());
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
        Err(e) if e.is_cancelled() => return Err(JobError::Cancelled),
        Err(e) => return Err(e.into()),
    };
    answer.event(Event::ScanDone {
        pages: output.pages,
        bytes: output.bytes,
    });

    let seq = services.store.list_jobs(usize::MAX)?.len() as u64 + 1;
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
    let job = services.store.insert_job(
        &NewJob {
            id: job_id,
            user_oid: oid.to_string(),
            workflow_id: wf.id.clone(),
            destination: destination_json(&wf),
            folder: folder.clone(),
            file_name: file_name.clone(),
            spool_path: path.clone(),
            size_bytes: output.bytes,
            pages: output.pages,
        },
        Utc::now(),
    )?;
    services.audit(
        oid,
        "scan_queued",
        &job.id.to_string(),
        &format!("{} pages", output.pages),
    );

    let progress_answer = answer.clone();
    let progress: Arc<dyn Fn(u64, u64) + Send + Sync> = Arc::new(move |sent, total| {
        progress_answer.event(Event::UploadProgress { sent, total });
    });
    match deliver(services, sessions, &job, Some(progress)).await {
        Ok(()) => Ok(Delivered::Sent {
            file_name,
            folder: if folder.is_empty() {
                "your OneDrive".into()
            } else {
                folder
            },
            destination: destination_name(wf.destination).to_string(),
        }),
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "delivery deferred to the outbox");
            services
                .store
                .retry_job_later(job.id, &e.to_string(), Utc::now(), Utc::now())?;
            Ok(Delivered::Queued {
                reason: short_reason(&e),
            })
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

/// The destination as recorded with the job (a job outlives config edits).
fn destination_json(wf: &WorkflowConfig) -> serde_json::Value {
    match wf.destination {
        Destination::Onedrive => serde_json::json!({ "type": "onedrive" }),
        Destination::Sharepoint => serde_json::json!({
            "type": "sharepoint",
            "site": wf.site,
            "library": wf.library,
        }),
    }
}

fn scan_options(wf: &WorkflowConfig) -> ScanOptions {
    use crate::config::{ColorMode as C, PageSize as P, ScanSource as S};
    use crate::scan::{ColorMode, PageSize, ScanSource};
    ScanOptions {
        dpi: wf.resolution_dpi,
        color: match wf.color_mode {
            C::Color => ColorMode::Color,
            C::Gray => ColorMode::Gray,
            C::Bw => ColorMode::BlackWhite,
        },
        source: match wf.source {
            S::Flatbed => ScanSource::Flatbed,
            S::Adf => ScanSource::Adf,
            S::AdfDuplex => ScanSource::AdfDuplex,
        },
        page_size: match wf.page_size {
            P::A4 => PageSize::A4,
            P::Letter => PageSize::Letter,
            P::Legal => PageSize::Legal,
            P::A5 => PageSize::A5,
        },
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
    services.store.start_job_attempt(job.id, Utc::now())?;
    let item = match job.destination.get("type").and_then(|t| t.as_str()) {
        Some("onedrive") => {
            services
                .graph
                .upload_small(
                    &token,
                    &job.folder,
                    &job.file_name,
                    &job.spool_path,
                    ConflictBehavior::Rename,
                    progress,
                )
                .await?
        }
        other => {
            return Err(JobError::Unsupported(format!(
                "destination {} (SharePoint delivery is not implemented yet)",
                other.unwrap_or("missing")
            )))
        }
    };
    services
        .store
        .complete_job(job.id, &item.id, Some(item.web_url.as_str()), Utc::now())?;
    services.audit(
        &job.user_oid,
        "scan_delivered",
        &job.id.to_string(),
        &item.name,
    );
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
            let next = match services.store.next_queued_job(Utc::now()) {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read queued jobs");
                    break;
                }
            };
            if let Err(e) = deliver(&services, &sessions, &next, None).await {
                tracing::warn!(job = %next.id, error = %e, "outbox: delivery failed, will retry");
                let retry_at =
                    Utc::now() + chrono::Duration::seconds(OUTBOX_INTERVAL.as_secs() as i64);
                let _ =
                    services
                        .store
                        .retry_job_later(next.id, &e.to_string(), retry_at, Utc::now());
                break;
            }
        }
    }
}
