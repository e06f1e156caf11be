//! Scan jobs: scan to a spooled PDF, record the job in SQLite before telling the user anything,
//! then hand it to the outbox ([`crate::workflow::outbox`]) under the user's delegated token.
//! Jobs that could not be delivered at once stay queued; the outbox worker retries them with
//! the user's cached refresh token, also after the user signed out.

use crate::i18n::Msg;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use secrecy::SecretString;
use tokio::sync::mpsc;

use super::controller::Answer;
use super::scan_sheet::{self, JobPlan};
use super::services::{destination_name, RefreshConsequence, Services};
use super::signin::SessionTokens;
use crate::config::{Delivery, Destination, WorkflowConfig};
use crate::graph::{BoxedTokenFuture, TokenError, TokenSource};
use crate::kiosk::{Event, SheetEvent};
use crate::scan::ScanOptions;
use crate::store::NewJob;
use crate::workflow::app_delivery;
use crate::workflow::outbox::{JobDestination, Outbox, Outcome, FAILED_RETENTION};
use crate::workflow::spool;
use crate::workflow::template;

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
    /// The scan (or its record) did not fit on the panel's storage; nothing of it is kept.
    #[error("{}", crate::admin::storage::STORAGE_FULL_MESSAGE)]
    StorageFull,
    #[error("file name template: {0}")]
    Template(#[from] template::TemplateError),
    #[error("scan settings: {0}")]
    Sheet(#[from] scan_sheet::SheetError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("outbox: {0}")]
    Outbox(#[from] crate::workflow::outbox::OutboxError),
    #[error("background task failed: {0}")]
    Task(String),
}

/// The delegated token of one user: the open session's token, else a silent refresh from the
/// cached refresh token (which works after sign-out too). A refreshed token is kept (in memory,
/// for this delivery only) until it is refused or about to expire.
pub struct UserTokens {
    services: Arc<Services>,
    sessions: SessionTokens,
    oid: String,
    refreshed: Mutex<Option<(SecretString, std::time::SystemTime)>>,
}

impl UserTokens {
    pub fn new(services: Arc<Services>, sessions: SessionTokens, oid: &str) -> Self {
        UserTokens {
            services,
            sessions,
            oid: oid.to_string(),
            refreshed: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<SecretString> {
        let guard = self
            .refreshed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (token, expires) = guard.as_ref()?;
        (*expires > std::time::SystemTime::now() + Duration::from_secs(60)).then(|| token.clone())
    }
}

impl TokenSource for UserTokens {
    fn token(&self, refresh: bool) -> BoxedTokenFuture<'_> {
        Box::pin(async move {
            if !refresh {
                if let Some(token) = self.sessions.valid(&self.oid).or_else(|| self.cached()) {
                    return Ok(token);
                }
            }
            match self.services.silent_refresh(&self.oid).await {
                Ok(access) => {
                    *self
                        .refreshed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) =
                        Some((access.token.clone(), access.expires_at));
                    Ok::<SecretString, TokenError>(access.token)
                }
                Err(e) => {
                    // The same verdict as at the panel: a refused grant fails the job for good
                    // (and revokes or marks the identity); Entra unreachable or the panel's own
                    // trouble (registration, store) is retried.
                    let consequence = self.services.act_on_refresh_failure(&self.oid, &e);
                    let permanent = matches!(
                        consequence,
                        RefreshConsequence::NeedsSignIn | RefreshConsequence::Revoked(_)
                    );
                    Err(TokenError {
                        message: e.to_string(),
                        permanent,
                    })
                }
            }
        })
    }
}

/// One outbox per state directory in this process, so the panel's immediate delivery and the
/// background worker share the SharePoint id cache.
pub fn outbox_for(services: &Services) -> Outbox {
    static OUTBOXES: Mutex<Option<HashMap<PathBuf, Outbox>>> = Mutex::new(None);
    let mut guard = OUTBOXES.lock().unwrap_or_else(PoisonError::into_inner);
    guard
        .get_or_insert_with(HashMap::new)
        .entry(services.state_dir().to_path_buf())
        .or_insert_with(|| {
            Outbox::new(
                services.store.clone(),
                services.graph.clone(),
                services.device_key().clone(),
            )
            .with_app_tokens(services.app_identity())
        })
        .clone()
}

/// Runs a workflow for a signed-in user, reporting progress as kiosk events.
pub async fn run_workflow(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    oid: &str,
    workflow_id: &str,
    plan: JobPlan,
    cancel: Arc<AtomicBool>,
    answer: &Answer,
) {
    let on_event = |e: Event| answer.event(e);
    let result = scan_and_deliver(
        services,
        sessions,
        oid,
        workflow_id,
        plan,
        cancel,
        &on_event,
    )
    .await
    .map(|(_, delivered)| delivered);
    answer.event(finished_event(result, workflow_id));
}

/// The result page for a job's real state.
fn finished_event(result: Result<Delivered, JobError>, workflow_id: &str) -> Event {
    match result {
        Ok(Delivered::Sent {
            file_name,
            folder,
            destination,
        }) => Event::JobFinished {
            ok: true,
            title: Msg::new("Sent to {}").arg(&destination),
            detail: if folder.is_empty() {
                Msg::new("{} is in your {}").arg(file_name).arg(destination)
            } else {
                Msg::new("{} is in {}").arg(file_name).arg(folder)
            },
        },
        Ok(Delivered::Queued {
            because: Queued::Network,
        }) => Event::JobFinished {
            ok: true,
            title: Msg::new("Queued: it will be sent when the network is back"),
            detail: Msg::new("Your scan is safe on the printer. You can go; it goes out by itself."),
        },
        Ok(Delivered::Queued { because }) => Event::JobFinished {
            ok: true,
            title: Msg::new("Saved: will be sent shortly"),
            detail: Msg::new("Your scan is safe on the printer and goes out automatically ({}).")
                .text(because.reason()),
        },
        Ok(Delivered::Failed { reason }) => Event::JobFinished {
            ok: false,
            title: Msg::new("Could not be delivered"),
            detail: Msg::new("{}. Your scan is kept on the printer; ask IT for help.").text(reason),
        },
        Err(JobError::Cancelled) => Event::JobFinished {
            ok: false,
            title: Msg::new("Scan cancelled"),
            detail: Msg::new("Nothing was sent."),
        },
        Err(JobError::StorageFull) => Event::JobFinished {
            ok: false,
            title: Msg::new("Scan not saved"),
            detail: Msg::new(
                "This panel's storage is full, please tell your technician. Nothing was sent; scans already waiting still go out.",
            ),
        },
        Err(e) => {
            tracing::error!(error = %e, workflow_id, "scan job failed");
            Event::JobFinished {
                ok: false,
                title: Msg::new("Scan failed"),
                detail: Msg::new("The scan did not finish. Please try again or ask IT for help."),
            }
        }
    }
}

/// Where a finished job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent {
        file_name: String,
        folder: String,
        destination: String,
    },
    Queued {
        because: Queued,
    },
    Failed {
        reason: Msg,
    },
}

/// Scans, spools, records and delivers one job; `on_event` gets scan and upload progress.
/// Returns the job's id and where it stands.
pub async fn scan_and_deliver(
    services: &Arc<Services>,
    sessions: &SessionTokens,
    oid: &str,
    workflow_id: &str,
    plan: JobPlan,
    cancel: Arc<AtomicBool>,
    on_event: &(dyn Fn(Event) + Send + Sync),
) -> Result<(uuid::Uuid, Delivered), JobError> {
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

    let settings = plan
        .settings
        .unwrap_or_else(|| scan_sheet::default_settings(&wf));
    // Folder and name are settled before paper moves: a bad pick must not waste a scan.
    let seq = services.store.list_jobs(usize::MAX)?.len() as u64 + 1;
    let attributes = scan_sheet::user_attributes(services, oid);
    let mut ctx = scan_sheet::template_context(services, &user, &wf, attributes, None, seq);
    let (folder, file_name) = scan_sheet::folder_and_name(&wf, &settings, &mut ctx)?;

    let job_id = uuid::Uuid::new_v4();
    let path = services.spool_path(&job_id.to_string());
    // Until the row is written, the lock says this scan is alive: a crash before that leaves
    // files the next start's spool sweep removes, and only then.
    let scan_lock = spool::locks_dir(&services.store).and_then(|dir| {
        spool::ScanLock::take(&dir, job_id)
            .map_err(
                |e| tracing::warn!(dir = %dir.display(), error = %e, "cannot take the scan lock"),
            )
            .ok()
    });
    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let s = services.clone();
    let scan_path = path.clone();
    let opts = settings.scan_options();
    let answers = plan.answers.filter(|_| settings.more_pages);
    let scan = tokio::task::spawn_blocking(move || {
        let mut scanner = s.new_scanner();
        let ask_tx = progress_tx.clone();
        let mut progress = |pages| {
            let _ = progress_tx.send(ScanNote::Pages(pages));
        };
        match answers {
            Some(answers) => crate::scan::pages::scan_pages_to_pdf(
                scanner.as_mut(),
                &opts,
                &scan_path,
                &cancel,
                &mut progress,
                // A closed channel (the session ended) finishes the document as it is.
                &mut |pages| {
                    let _ = ask_tx.send(ScanNote::Ask(pages));
                    answers.recv().unwrap_or(false)
                },
            ),
            None => crate::scan::pdf::scan_to_pdf(
                scanner.as_mut(),
                &opts,
                &scan_path,
                &cancel,
                &mut progress,
            ),
        }
    });
    while let Some(note) = progress_rx.recv().await {
        on_event(match note {
            ScanNote::Pages(pages) => Event::ScanProgress { pages },
            ScanNote::Ask(pages) => Event::Sheet(SheetEvent::AskAnotherPage { pages }),
        });
    }
    let output = match scan.await.map_err(|e| JobError::Task(e.to_string()))? {
        Ok(output) => output,
        Err(e) if e.is_cancelled() => return Err(JobError::Cancelled),
        Err(e) if e.is_storage_full() => {
            storage_full(services, &e.to_string());
            return Err(JobError::StorageFull);
        }
        Err(e) => return Err(e.into()),
    };
    on_event(Event::ScanDone {
        pages: output.pages,
        bytes: output.bytes,
    });

    // The job is durable from here on: the PDF is fsync'd in the spool, the row is in SQLite.
    let recorded = services.store.insert_job(
        &NewJob {
            id: job_id,
            user_oid: oid.to_string(),
            workflow_id: wf.id.clone(),
            destination: match wf.delivery {
                Delivery::User => destination_of(&wf, oid).to_json(),
                Delivery::App => app_delivery::mark_app(
                    destination_of(&wf, oid).to_json(),
                    &app_delivery::describe(
                        &user.display_name,
                        &user.upn,
                        &services.config.device.name,
                    ),
                ),
            },
            folder: folder.clone(),
            file_name: file_name.clone(),
            spool_path: path.clone(),
            size_bytes: output.bytes,
            pages: output.pages,
        },
        Utc::now(),
    );
    let job = match recorded {
        Ok(job) => job,
        Err(e) => {
            // Without its row nobody would ever send or delete the spooled PDF.
            if let Err(rm) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), error = %rm, "cannot remove unrecorded scan");
            }
            drop(scan_lock);
            if e.is_storage_full() {
                storage_full(services, &e.to_string());
                return Err(JobError::StorageFull);
            }
            return Err(e.into());
        }
    };
    drop(scan_lock);
    match serde_json::to_value(&settings) {
        Ok(json) => {
            if let Err(e) = services.store.set_job_settings(job.id, &json) {
                tracing::warn!(job = %job.id, error = %e, "scan settings not recorded");
            }
        }
        Err(e) => tracing::warn!(error = %e, "scan settings not serialisable"),
    }
    services.audit(
        oid,
        "scan_queued",
        &job.id.to_string(),
        &format!("{} pages", output.pages),
    );

    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel::<(u64, u64)>();
    let progress: crate::graph::ProgressFn = Arc::new(move |sent, total| {
        let _ = progress_tx.send((sent, total));
    });
    let tokens = UserTokens::new(services.clone(), sessions.clone(), oid);
    let outbox = outbox_for(services);
    let job_id = job.id;
    // Its own task, so the delivery goes on (and is recorded) when the panel stops waiting.
    let mut delivery =
        tokio::spawn(async move { outbox.deliver(job_id, &tokens, Some(progress)).await });
    // With a grace, a user whose upload has not even started by then (network down: connects
    // time out) is told at once that the scan is queued, rather than made to wait.
    let grace = tokio::time::sleep(plan.upload_start_grace.unwrap_or(Duration::MAX / 4));
    tokio::pin!(grace);
    let mut started = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut delivery => break outcome.map_err(|e| JobError::Task(e.to_string()))??,
            Some((sent, total)) = progress_rx.recv() => {
                // Back to 0 after bytes went out: that attempt failed and a retry waits. Once
                // the grace is over, the user is told the scan is queued.
                started = sent > 0;
                on_event(Event::UploadProgress { sent, total });
            }
            _ = &mut grace, if !started => {
                tracing::info!(job = %job.id, "upload not started in time; left to the outbox");
                return Ok((
                    job.id,
                    Delivered::Queued {
                        because: Queued::Network,
                    },
                ));
            }
        }
    };
    let delivered = match outcome {
        Outcome::Delivered(item) => {
            services.audit(oid, "scan_delivered", &job.id.to_string(), &item.name);
            Delivered::Sent {
                file_name: item.name,
                // Empty: the destination's root ("is in your OneDrive").
                folder,
                destination: destination_name(wf.destination).to_string(),
            }
        }
        Outcome::Retry { error, .. } => {
            tracing::warn!(job = %job.id, %error, "delivery deferred to the outbox");
            Delivered::Queued {
                because: Queued::after(&error),
            }
        }
        Outcome::Skipped => Delivered::Queued {
            because: Queued::OutboxSending,
        },
        Outcome::Failed { error } => {
            services.audit(oid, "scan_failed", &job.id.to_string(), &error);
            Delivered::Failed {
                reason: if error.starts_with(app_delivery::DENIED_PREFIX) {
                    Msg::new(
                        "This printer is not yet allowed to save there (IT must grant it access)",
                    )
                } else {
                    Msg::new("The destination refused the scan")
                },
            }
        }
    };
    Ok((job.id, delivered))
}

/// What the scanning thread reports.
enum ScanNote {
    Pages(u32),
    /// A flatbed page is in: ask "Another page?".
    Ask(u32),
}

/// Logs a scan that did not fit, with what is left, for the technician.
fn storage_full(services: &Services, error: &str) {
    let free = crate::admin::storage::free_bytes(&services.spool_dir).ok();
    tracing::error!(
        error,
        spool = %services.spool_dir.display(),
        free_bytes = free,
        "scan did not fit on the panel's storage; partial file removed"
    );
}

/// Why a scan waits in the outbox instead of being sent now; the result page tells the user
/// differently when it is the network (they can go: it leaves by itself when it is back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    Network,
    Busy,
    Retry,
    OutboxSending,
}

impl Queued {
    /// From the error of a failed attempt.
    fn after(error: &str) -> Queued {
        if error.contains("no access token")
            || error.contains("connect")
            || error.contains("timed out")
        {
            Queued::Network
        } else if error.contains("429") || error.contains("503") {
            Queued::Busy
        } else {
            Queued::Retry
        }
    }

    /// The reason in the user's words.
    pub fn reason(self) -> Msg {
        match self {
            Queued::Network => Msg::new("waiting for the network"),
            Queued::Busy => Msg::new("the cloud service is busy"),
            Queued::Retry => Msg::new("will retry"),
            Queued::OutboxSending => Msg::new("the outbox is sending it"),
        }
    }
}

/// The destination as recorded with the job; the app reaches a OneDrive as the user's.
fn destination_of(wf: &WorkflowConfig, oid: &str) -> JobDestination {
    match wf.destination {
        Destination::Onedrive if wf.delivery == Delivery::App => JobDestination::UserDrive {
            user: oid.to_string(),
        },
        Destination::Onedrive => JobDestination::OneDrive,
        Destination::Sharepoint => JobDestination::SharePoint {
            site: wf.site.clone().unwrap_or_default(),
            library: wf.library.clone().unwrap_or_default(),
        },
    }
}

/// The scan options of a workflow.
pub fn scan_options(wf: &WorkflowConfig) -> ScanOptions {
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

/// Token sources for the outbox: each job's owner.
pub fn tokens_for(
    services: &Arc<Services>,
    sessions: &SessionTokens,
) -> impl Fn(&str) -> Arc<dyn TokenSource> + Send + Sync {
    let services = services.clone();
    let sessions = sessions.clone();
    move |oid: &str| {
        Arc::new(UserTokens::new(services.clone(), sessions.clone(), oid)) as Arc<dyn TokenSource>
    }
}

/// Puts jobs a crash left `uploading` back in the queue (they resume their upload session) and
/// deletes failed jobs past their retention. Call once at start, before any delivery.
pub fn recover(outbox: &Outbox) {
    match outbox.requeue_abandoned() {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "outbox: interrupted uploads re-queued"),
        Err(e) => tracing::error!(error = %e, "outbox: cannot re-queue interrupted jobs"),
    }
    if let Err(e) = outbox.purge_failed(Utc::now(), FAILED_RETENTION) {
        tracing::error!(error = %e, "outbox: cannot purge expired failed jobs");
    }
}

/// Removes what a crash left in the spool (see [`spool`]): partial PDFs, PDFs that never got
/// their outbox row, PDFs of jobs already delivered. Call at start; safe beside other
/// processes scanning into the same spool.
pub fn sweep_spool(services: &Services) {
    match spool::sweep(
        &services.store,
        &services.spool_dir,
        std::time::SystemTime::now(),
    ) {
        Ok(swept) if swept.total() == 0 => {}
        Ok(swept) => tracing::info!(?swept, "spool: files left by a crash removed"),
        Err(e) => tracing::error!(error = %e, "spool: cannot sweep"),
    }
}

/// Delivers queued jobs every [`OUTBOX_INTERVAL`], also for users who signed out. Runs forever;
/// spawn it once at start.
pub async fn outbox_worker(services: Arc<Services>, sessions: SessionTokens) {
    let outbox = outbox_for(&services);
    recover(&outbox);
    sweep_spool(&services);
    let tokens = tokens_for(&services, &sessions);
    let mut interval = tokio::time::interval(OUTBOX_INTERVAL);
    loop {
        interval.tick().await;
        match outbox.run_due(&tokens).await {
            Ok(summary) if summary != Default::default() => {
                tracing::info!(?summary, "outbox pass")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox: pass failed"),
        }
        if let Err(e) = outbox.purge_failed(Utc::now(), FAILED_RETENTION) {
            tracing::error!(error = %e, "outbox: cannot purge expired failed jobs");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_ends_the_job_with_the_plain_sentence() {
        match finished_event(Err(JobError::StorageFull), "wf") {
            Event::JobFinished { ok, title, detail } => {
                assert!(!ok);
                assert_eq!(title, "Scan not saved");
                assert!(
                    detail.starts_with(crate::admin::storage::STORAGE_FULL_MESSAGE),
                    "{detail}"
                );
                assert!(!detail.contains("os error"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }
}
