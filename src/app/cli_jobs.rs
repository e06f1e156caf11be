//! Command-line job tools for technicians and scripts, without the panel:
//! - `scan --workflow NAME --user UPN`: scans with a workflow for a cached user, enqueues the job
//!   and delivers it under the user's cached refresh token, then prints the job's state;
//! - `outbox`: lists jobs with their state, attempts and last error;
//! - `outbox retry ID`: puts a failed job back in the queue;
//! - `outbox run`: delivers queued jobs now (re-queueing ones a crash interrupted) and waits for
//!   scheduled retries up to a limit; what is left stays queued for the panel's worker.
//!
//! Each entry point builds its own tokio runtime and returns the process exit code.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::jobs::{self, Delivered};
use super::services::{ServiceError, Services};
use super::signin::SessionTokens;
use crate::config::Config;
use crate::graph::FragmentSize;
use crate::kiosk::Event;
use crate::store::{JobRecord, JobState, Store, StoreError};
use crate::workflow::outbox::{Outbox, OutboxError, RunSummary};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("state directory: {0}")]
    StateDir(#[from] crate::fsmode::FsModeError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Job(#[from] jobs::JobError),
    #[error("no workflow named `{0}` (see `check-config` for the list)")]
    UnknownWorkflow(String),
    #[error("no cached user `{0}`: the user must sign in on the panel once")]
    UnknownUser(String),
    #[error(transparent)]
    Admin(#[from] crate::admin::outbox::OutboxAdminError),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

/// Tuning of `outbox run` (technicians rarely need it; tests use small fragments).
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub fragment: FragmentSize,
    pub session_threshold: u64,
    /// Wait at most this long for a scheduled retry before returning.
    pub max_wait: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            fragment: FragmentSize::DEFAULT,
            session_threshold: crate::graph::SESSION_THRESHOLD,
            max_wait: Duration::from_secs(600),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

/// The config with its state directory resolved (as the panel does at start).
fn resolved(mut config: Config) -> Result<Config, CliError> {
    config.device.state_dir = config.state_dir();
    crate::fsmode::private_dir(&config.device.state_dir)?;
    Ok(config)
}

fn open_store(config: &Config) -> Result<Store, CliError> {
    Ok(Store::open(&config.device.state_dir.join("kiosk.sqlite3"))?)
}

/// `outbox`: one line per job, newest first.
pub fn list_command(config: Config, out: &mut dyn Write) -> Result<i32, CliError> {
    let config = resolved(config)?;
    let store = open_store(&config)?;
    let jobs = store.list_jobs(usize::MAX)?;
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(CliError::Output);
    w(
        out,
        format!(
            "{:<36}  {:<9}  {:>8}  {:<20}  {:<30}  last error",
            "job", "state", "attempts", "created (UTC)", "file"
        ),
    )?;
    for j in &jobs {
        w(out, job_line(j))?;
    }
    w(out, format!("{} job(s)", jobs.len()))?;
    Ok(0)
}

fn job_line(j: &JobRecord) -> String {
    let file = if j.folder.is_empty() {
        j.file_name.clone()
    } else {
        format!("{}/{}", j.folder, j.file_name)
    };
    format!(
        "{:<36}  {:<9}  {:>8}  {:<20}  {:<30}  {}",
        j.id,
        j.state.as_str(),
        j.attempts,
        j.created_at.format("%Y-%m-%d %H:%M:%S"),
        file,
        j.last_error.as_deref().unwrap_or("-")
    )
}

/// `outbox retry ID`: a failed job goes back to the queue (the panel's worker or `outbox run`
/// delivers it). Audited as actor `cli`, as on the panel's Outbox page.
pub fn retry_command(config: Config, id: &str, out: &mut dyn Write) -> Result<i32, CliError> {
    let id = crate::admin::outbox::parse_id(id)?;
    let store = open_store(&resolved(config)?)?;
    crate::admin::outbox::retry(&store, id, "cli", Utc::now())?;
    writeln!(out, "job {id} re-queued").map_err(CliError::Output)?;
    Ok(0)
}

/// `outbox delete ID`: a queued or failed job and its spool file are removed; a job being
/// sent is refused.
pub fn delete_command(config: Config, id: &str, out: &mut dyn Write) -> Result<i32, CliError> {
    let id = crate::admin::outbox::parse_id(id)?;
    let store = open_store(&resolved(config)?)?;
    crate::admin::outbox::delete(&store, id, "cli", Utc::now())?;
    writeln!(out, "job {id} deleted with its scanned file").map_err(CliError::Output)?;
    Ok(0)
}

/// `outbox run`: exit code 0 when nothing is left queued, 2 when jobs are still waiting for a
/// retry, 1 when some failed for good during this run.
pub fn run_command(config: Config, opts: RunOptions, out: &mut dyn Write) -> Result<i32, CliError> {
    let config = resolved(config)?;
    let rt = runtime()?;
    let (summary, left) = rt.block_on(run_outbox(config, opts))?;
    writeln!(
        out,
        "delivered {}, failed {}, retried {}, still queued {left}",
        summary.delivered, summary.failed, summary.retried
    )
    .map_err(CliError::Output)?;
    Ok(if summary.failed > 0 {
        1
    } else if left > 0 {
        2
    } else {
        0
    })
}

async fn run_outbox(config: Config, opts: RunOptions) -> Result<(RunSummary, usize), CliError> {
    let factory = super::scanner_factory(&config, false);
    let services = Arc::new(Services::new(config, factory)?);
    let outbox = Outbox::new(
        services.store.clone(),
        services.graph.clone(),
        services.device_key().clone(),
    )
    .with_fragment_size(opts.fragment)
    .with_session_threshold(opts.session_threshold)
    .with_app_tokens(services.app_identity());
    jobs::recover(&outbox);
    jobs::sweep_spool(&services);
    let tokens = jobs::tokens_for(&services, &SessionTokens::default());
    let mut total = RunSummary::default();
    loop {
        let s = outbox.run_due(&tokens).await?;
        total.delivered += s.delivered;
        total.failed += s.failed;
        total.retried += s.retried;
        let Some(due) = outbox.next_due()? else {
            return Ok((total, 0));
        };
        let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if s == RunSummary::default() && wait.is_zero() {
            // Nothing of ours moved: what is due is held by another uploader (the panel) on
            // this state directory. Look again shortly instead of spinning.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if wait > opts.max_wait {
            let left = services
                .store
                .list_jobs(usize::MAX)?
                .iter()
                .filter(|j| j.state == JobState::Queued)
                .count();
            return Ok((total, left));
        }
        tokio::time::sleep(wait).await;
    }
}

/// `scan --workflow NAME --user UPN`: exit code 0 when delivered, 2 when queued for a retry,
/// 1 when it failed. Ctrl-C cancels the scan.
pub fn scan_command(
    config: Config,
    demo: bool,
    workflow: &str,
    upn: &str,
    out: &mut dyn Write,
) -> Result<i32, CliError> {
    let config = resolved(config)?;
    let wf = config
        .workflows
        .iter()
        .find(|w| w.id.eq_ignore_ascii_case(workflow) || w.label.eq_ignore_ascii_case(workflow))
        .ok_or_else(|| CliError::UnknownWorkflow(workflow.to_string()))?
        .id
        .clone();
    let rt = runtime()?;
    let (job_id, delivered) = rt.block_on(async {
        let factory = super::scanner_factory(&config, demo);
        let services = Arc::new(Services::new(config, factory)?);
        let user = services
            .store
            .user_by_upn(upn)?
            .ok_or_else(|| CliError::UnknownUser(upn.to_string()))?;
        let cancel = Arc::new(AtomicBool::new(false));
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.store(true, Ordering::SeqCst);
            }
        });
        let progress = |e: Event| match e {
            Event::ScanProgress { pages } => eprintln!("scanned page {pages}"),
            Event::ScanDone { pages, bytes } => {
                eprintln!("scan done: {pages} page(s), {bytes} bytes")
            }
            Event::UploadProgress { sent, total } if sent == total => {
                eprintln!("uploaded {total} bytes")
            }
            _ => {}
        };
        let sessions = SessionTokens::default();
        let r = jobs::scan_and_deliver(
            &services,
            &sessions,
            &user.oid,
            &wf,
            Default::default(),
            cancel,
            &progress,
        )
        .await?;
        Ok::<_, CliError>(r)
    })?;
    let (state, code) = match &delivered {
        Delivered::Sent {
            file_name,
            folder,
            destination,
        } => (
            format!(
                "done: {file_name} is in {} ({destination})",
                if folder.is_empty() { "/" } else { folder }
            ),
            0,
        ),
        Delivered::Queued { because } => (format!("queued: {}", because.reason()), 2),
        Delivered::Failed { reason } => (format!("failed: {reason}"), 1),
    };
    writeln!(out, "job {job_id} {state}").map_err(CliError::Output)?;
    Ok(code)
}
