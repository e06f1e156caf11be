//! The durable outbox: delivers spooled scan jobs recorded in SQLite, one at a time, in order.
//!
//! A job row exists only once its spool file is complete and fsync'd, so whatever happens (a
//! network outage, kill -9, a power cut) the job is either done or still in the table with its
//! file. Delivery here:
//! - resolves the destination (the user's OneDrive, or a SharePoint library by site path, with
//!   the ids cached);
//! - uploads through [`Uploader`], resuming the upload session saved in the job row, and, for a
//!   job that was attempted before, first checking whether its file already landed, so a job is
//!   never uploaded twice. The session URL is a bearer capability, so the row only ever holds it
//!   sealed with the device key (associated data: the job id);
//! - on success marks the job done and removes the spool file; on a transient failure
//!   (network, 429, 5xx, Entra unreachable) puts it back with a back-off; on a permanent one
//!   (the user's sign-in was revoked, the site or library is gone, access was withdrawn) marks
//!   it failed. Failed jobs stay for [`FAILED_RETENTION`] for technicians to see or retry, then
//!   [`Outbox::purge_failed`] deletes them and their files.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::app_delivery;
use super::lease::{self, LeaseOwner};
use crate::graph::{
    DriveItem, DriveTarget, FragmentSize, GraphClient, GraphError, ProgressFn, RetryPolicy,
    SessionStore, SiteRef, SiteResolver, TokenSource, UploadRequest, UploadUrl, Uploader,
    SESSION_THRESHOLD,
};
use crate::identity::UserStatus;
use crate::secrets::DeviceKey;
use crate::store::{JobRecord, JobState, Store, StoreError};

/// How long failed jobs are kept before they are deleted.
pub const FAILED_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// First delay before a job whose delivery failed transiently is tried again; doubles per
/// attempt up to [`MAX_JOB_BACKOFF`].
pub const JOB_BACKOFF: Duration = Duration::from_secs(30);
pub const MAX_JOB_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox store: {0}")]
    Store(#[from] StoreError),
    #[error("job {0} has an unreadable destination: {1}")]
    BadDestination(Uuid, String),
}

/// Where a job goes, as recorded in its row (a job outlives config edits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobDestination {
    OneDrive,
    SharePoint {
        site: String,
        library: String,
    },
    /// A user's OneDrive reached by the app identity (`/users/{id}/drive`).
    UserDrive {
        user: String,
    },
}

impl JobDestination {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            JobDestination::OneDrive => serde_json::json!({ "type": "onedrive" }),
            JobDestination::SharePoint { site, library } => serde_json::json!({
                "type": "sharepoint",
                "site": site,
                "library": library,
            }),
            JobDestination::UserDrive { user } => serde_json::json!({
                "type": "user_drive",
                "user": user,
            }),
        }
    }

    pub fn from_json(value: &serde_json::Value) -> Result<JobDestination, String> {
        let field = |k: &str| value.get(k).and_then(|v| v.as_str());
        match field("type") {
            Some("onedrive") => Ok(JobDestination::OneDrive),
            Some("sharepoint") => match (field("site"), field("library")) {
                (Some(site), Some(library)) => Ok(JobDestination::SharePoint {
                    site: site.to_string(),
                    library: library.to_string(),
                }),
                _ => Err("a SharePoint destination needs `site` and `library`".into()),
            },
            Some("user_drive") => match field("user") {
                Some(user) => Ok(JobDestination::UserDrive { user: user.into() }),
                None => Err("a user drive destination needs `user`".into()),
            },
            other => Err(format!("unknown destination type {other:?}")),
        }
    }
}

/// What one delivery attempt ended with.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered(DriveItem),
    /// Back in the queue, due at `at`.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Given up; kept for technicians.
    Failed {
        error: String,
    },
    /// Not attempted: the job is not queued (done, failed, or being delivered by someone else).
    Skipped,
}

/// Renews the leases of every job this outbox is uploading, every [`lease::RENEW_EVERY`] of
/// real time, for as long as the outbox (any clone) exists. One thread per outbox for its whole
/// life: it follows the wall clock, not tokio's (tests deliver on a paused clock, which a
/// blocking task would stop from advancing), and it is not started and ended per delivery (a
/// CLI `scan` once hung in glibc's loader lock right after such a thread ended).
#[derive(Debug)]
struct LeaseRenewer {
    /// Dropped with the last clone of the outbox: the channel disconnects and the thread ends.
    _stop: std::sync::mpsc::Sender<()>,
}

impl LeaseRenewer {
    fn start(store: Store, owner: LeaseOwner) -> LeaseRenewer {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("outbox-lease".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(lease::RENEW_EVERY)
                {
                    if let Err(e) = store.renew_leases(owner.as_str(), lease_end(Utc::now())) {
                        tracing::warn!(error = %e, "cannot renew the upload leases");
                    }
                }
            });
        if let Err(e) = spawned {
            // Without renewal a lease still holds for [`lease::LEASE`].
            tracing::warn!(error = %e, "cannot start the upload lease renewal");
        }
        LeaseRenewer { _stop: stop }
    }
}

fn lease_end(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease::LEASE).unwrap_or(chrono::Duration::MAX)
}

/// Counts of one [`Outbox::run_due`] pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub delivered: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Jobs being delivered in this process; a job id is claimed before its delivery starts.
static IN_FLIGHT: Mutex<Option<HashSet<Uuid>>> = Mutex::new(None);

struct Claim(Uuid);

impl Claim {
    fn take(id: Uuid) -> Option<Claim> {
        let mut guard = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        // Build the Claim only on success: a Claim dropped here would lock IN_FLIGHT again
        // while `guard` holds it.
        let inserted = guard.get_or_insert_with(HashSet::new).insert(id);
        drop(guard);
        inserted.then(|| Claim(id))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut guard = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(set) = guard.as_mut() {
            set.remove(&self.0);
        }
    }
}

/// The outbox of one state directory. Cheap to clone; clones share the site cache.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Store,
    /// Seals and opens the upload-session URLs kept in job rows.
    key: Arc<DeviceKey>,
    graph: GraphClient,
    uploader: Uploader,
    sites: SiteResolver,
    fragment: FragmentSize,
    threshold: u64,
    job_backoff: Duration,
    /// This outbox, as the holder of the jobs it claims (see [`lease`]).
    owner: LeaseOwner,
    /// Where holders keep their lock files: `locks/` beside the database.
    locks_dir: Option<std::path::PathBuf>,
    /// The panel's app-only token, for jobs recorded as `delivery = "app"`.
    app_tokens: Option<AppTokenSource>,
    _renewer: Arc<LeaseRenewer>,
}

#[derive(Clone)]
struct AppTokenSource(Arc<dyn TokenSource>);

impl std::fmt::Debug for AppTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppTokenSource")
    }
}

impl Outbox {
    pub fn new(store: Store, graph: GraphClient, key: Arc<DeviceKey>) -> Self {
        let locks_dir = store.dir().map(|d| d.join("locks"));
        let owner = LeaseOwner::new(locks_dir.as_deref());
        let renewer = Arc::new(LeaseRenewer::start(store.clone(), owner.clone()));
        Outbox {
            uploader: Uploader::new(graph.clone(), RetryPolicy::default()),
            store,
            key,
            graph,
            sites: SiteResolver::new(),
            fragment: FragmentSize::DEFAULT,
            threshold: SESSION_THRESHOLD,
            job_backoff: JOB_BACKOFF,
            _renewer: renewer,
            owner,
            locks_dir,
            app_tokens: None,
        }
    }

    /// Where jobs recorded as delivered by the app get their token (whatever token source
    /// their delivery is called with).
    pub fn with_app_tokens(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.app_tokens = Some(AppTokenSource(tokens));
        self
    }

    pub fn with_fragment_size(mut self, fragment: FragmentSize) -> Self {
        self.fragment = fragment;
        self
    }

    /// Files of at least `bytes` go through an upload session.
    pub fn with_session_threshold(mut self, bytes: u64) -> Self {
        self.threshold = bytes;
        self
    }

    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.uploader = Uploader::new(self.graph.clone(), policy);
        self
    }

    /// First delay before a transiently failed job is tried again.
    pub fn with_job_backoff(mut self, backoff: Duration) -> Self {
        self.job_backoff = backoff;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn site_cache(&self) -> &SiteResolver {
        &self.sites
    }

    /// Delivers one job under its owner's token and records the outcome in its row.
    pub async fn deliver(
        &self,
        job_id: Uuid,
        tokens: &dyn TokenSource,
        progress: Option<ProgressFn>,
    ) -> Result<Outcome, OutboxError> {
        let Some(_claim) = Claim::take(job_id) else {
            return Ok(Outcome::Skipped);
        };
        // Re-read under the claim: another delivery may have finished it meanwhile.
        let Some(job) = self.store.job(job_id)? else {
            return Ok(Outcome::Skipped);
        };
        if job.state != JobState::Queued {
            return Ok(Outcome::Skipped);
        }
        // The claim in SQLite is what keeps another process (the panel and a technician's
        // `outbox run`) off this job; the in-process claim above only saves the query.
        let now = Utc::now();
        let Some(attempt) =
            self.store
                .claim_job(job.id, self.owner.as_str(), lease_end(now), now)?
        else {
            return Ok(Outcome::Skipped);
        };
        tracing::info!(job = %job.id, attempt, "delivering");
        let result = self.upload(&job, tokens, progress).await;
        self.record(&job, attempt, result)
    }

    /// Puts back in the queue the jobs whose uploader is gone (crash, kill -9, power cut, in
    /// this process or another) or whose lease ran out; a job another live process is
    /// uploading stays with it. Returns how many.
    pub fn requeue_abandoned(&self) -> Result<usize, OutboxError> {
        Ok(self
            .store
            .requeue_interrupted(Utc::now(), |owner| match &self.locks_dir {
                Some(dir) => lease::holder_alive(dir, owner),
                // In memory: one process only, leases end by expiry.
                None => true,
            })?)
    }

    async fn upload(
        &self,
        job: &JobRecord,
        tokens: &dyn TokenSource,
        progress: Option<ProgressFn>,
    ) -> Result<DriveItem, Failure> {
        match self.store.user_by_oid(&job.user_oid) {
            Ok(Some(user)) if user.status == UserStatus::Revoked => {
                return Err(Failure::Permanent(
                    "the user's access was revoked".to_string(),
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::Transient(e.to_string(), None)),
        }
        if !Path::new(&job.spool_path).is_file() {
            return Err(Failure::Permanent(format!(
                "the spool file {} is missing",
                job.spool_path.display()
            )));
        }
        let destination = JobDestination::from_json(&job.destination)
            .map_err(|e| Failure::Permanent(format!("bad destination: {e}")))?;
        let app = app_delivery::of(&job.destination);
        let tokens: &dyn TokenSource = match (&app, &self.app_tokens) {
            (None, _) => tokens,
            (Some(_), Some(app_tokens)) => app_tokens.0.as_ref(),
            (Some(_), None) => {
                return Err(Failure::Transient(
                    app_delivery::no_credential("not configured on this panel"),
                    None,
                ))
            }
        };
        // Graph's 403 to the app means a grant is missing: say which, in words.
        let graph_failure = |e: &GraphError| match (&app, e.status(), &destination) {
            (Some(_), Some(403), JobDestination::SharePoint { site, .. }) => {
                Failure::Permanent(app_delivery::site_denied(site))
            }
            (Some(_), Some(403), JobDestination::UserDrive { .. }) => {
                Failure::Permanent(app_delivery::user_drive_denied())
            }
            _ => Failure::from_graph(e),
        };
        let resume = match job.upload_url.as_ref().map(|sealed| {
            let url = self
                .key
                .open_upload_url(sealed, job.id.as_bytes())
                .map_err(|e| e.to_string())?;
            UploadUrl::parse(url.expose_secret()).map_err(|e| e.to_string())
        }) {
            Some(Ok(url)) => Some(url),
            Some(Err(error)) => {
                // Sealed under another key or damaged: a new session does the job.
                tracing::warn!(job = %job.id, %error, "ignoring an unusable saved upload URL");
                None
            }
            None => None,
        };
        let store = self.store.clone();
        let key = self.key.clone();
        let id = job.id;
        let on_session: SessionStore = Arc::new(move |url: Option<&UploadUrl>| {
            let sealed = match url {
                Some(url) => {
                    match key.seal_upload_url(&SecretString::from(url.expose()), id.as_bytes()) {
                        Ok(sealed) => Some(sealed),
                        Err(e) => {
                            // Never store it in clear; resuming after a crash is all we lose.
                            tracing::warn!(job = %id, error = %e, "cannot seal the upload session URL");
                            None
                        }
                    }
                }
                None => None,
            };
            if let Err(e) = store.set_job_upload_url(id, sealed.as_ref(), Utc::now()) {
                // Losing it only costs a restart of the session after a crash.
                tracing::warn!(job = %id, error = %e, "cannot save the upload session URL");
            }
        });
        let mut retried_site = false;
        loop {
            let (drive, site) = match &destination {
                JobDestination::OneDrive => (DriveTarget::Me, None),
                JobDestination::UserDrive { user } => (DriveTarget::User(user.clone()), None),
                JobDestination::SharePoint { site, library } => {
                    let site_ref = SiteRef::parse(site).map_err(|e| graph_failure(&e))?;
                    let token = tokens
                        .token(false)
                        .await
                        .map_err(|e| Failure::from_token(e.message, e.permanent))?;
                    let drive = match self
                        .sites
                        .drive(&self.graph, &token, &site_ref, library)
                        .await
                    {
                        Ok(d) => d,
                        Err(e) if e.is_unauthorized() => {
                            let token = tokens
                                .token(true)
                                .await
                                .map_err(|e| Failure::from_token(e.message, e.permanent))?;
                            self.sites
                                .drive(&self.graph, &token, &site_ref, library)
                                .await
                                .map_err(|e| graph_failure(&e))?
                        }
                        Err(e) => return Err(graph_failure(&e)),
                    };
                    (drive, Some((site_ref, library.clone())))
                }
            };
            let mut req = UploadRequest::new(&drive, &job.folder, &job.file_name, &job.spool_path);
            req.fragment = self.fragment;
            req.threshold = self.threshold;
            req.resume = resume.clone();
            req.maybe_landed = job.attempts > 0;
            req.progress = progress.clone();
            req.on_session = Some(on_session.clone());
            if let Some(app) = &app {
                req.threshold = 0;
                req.description = Some(app.description.clone());
            }
            match self.uploader.upload(&req, tokens).await {
                Ok(item) => return Ok(item),
                // A cached library id that answers 404: the library may have been recreated
                // under a new id. Resolve it once more before calling it gone.
                Err(e) if e.status() == Some(404) && site.is_some() && !retried_site => {
                    if let Some((site_ref, library)) = &site {
                        self.sites.forget(site_ref, library);
                    }
                    retried_site = true;
                }
                Err(e) => return Err(graph_failure(&e)),
            }
        }
    }

    fn record(
        &self,
        job: &JobRecord,
        attempt: u32,
        result: Result<DriveItem, Failure>,
    ) -> Result<Outcome, OutboxError> {
        let now = Utc::now();
        match result {
            Ok(item) => {
                self.store
                    .complete_job(job.id, &item.id, Some(item.web_url.as_str()), now)?;
                tracing::info!(job = %job.id, name = %item.name, "delivered");
                if let Err(e) = std::fs::remove_file(&job.spool_path) {
                    tracing::warn!(job = %job.id, error = %e, "delivered, but the spool file could not be removed");
                }
                Ok(Outcome::Delivered(item))
            }
            Err(Failure::Transient(error, retry_after)) => {
                let backoff = job_backoff(self.job_backoff, attempt);
                let wait = retry_after.map_or(backoff, |r| r.max(backoff));
                let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                tracing::warn!(job = %job.id, %error, retry_in_s = wait.as_secs(), "delivery failed; will retry");
                self.store.retry_job_later(job.id, &error, at, now)?;
                Ok(Outcome::Retry { at, error })
            }
            Err(Failure::Permanent(error)) => {
                tracing::error!(job = %job.id, %error, "delivery failed for good");
                self.store.fail_job(job.id, &error, now)?;
                Ok(Outcome::Failed { error })
            }
        }
    }

    /// Delivers every job that is due now, oldest first; a job that fails is rescheduled or
    /// failed and the others still go.
    pub async fn run_due(
        &self,
        tokens_for: &(dyn Fn(&str) -> Arc<dyn TokenSource> + Send + Sync),
    ) -> Result<RunSummary, OutboxError> {
        let mut summary = RunSummary::default();
        // A job whose uploader died since the last pass is due again.
        self.requeue_abandoned()?;
        let mut seen = HashSet::new();
        while let Some(job) = self.store.next_queued_job(Utc::now())? {
            if !seen.insert(job.id) {
                // Rescheduled to now (a zero back-off) and picked again: leave it for the next pass.
                break;
            }
            let tokens = tokens_for(&job.user_oid);
            match self.deliver(job.id, tokens.as_ref(), None).await? {
                Outcome::Delivered(_) => summary.delivered += 1,
                Outcome::Retry { .. } => summary.retried += 1,
                Outcome::Failed { .. } => summary.failed += 1,
                Outcome::Skipped => {}
            }
        }
        Ok(summary)
    }

    /// When the next queued job is due (`None`: nothing queued).
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>, OutboxError> {
        Ok(self
            .store
            .list_jobs(usize::MAX)?
            .iter()
            .filter(|j| matches!(j.state, JobState::Queued | JobState::Uploading))
            .map(|j| j.next_attempt_at.unwrap_or(j.updated_at))
            .min())
    }

    /// Deletes failed jobs (and their spool files) last touched before `now - retention`.
    /// Returns how many.
    pub fn purge_failed(
        &self,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Result<usize, OutboxError> {
        let cutoff = now - chrono::Duration::from_std(retention).unwrap_or_default();
        let mut purged = 0;
        for job in self.store.list_jobs(usize::MAX)? {
            if job.state != JobState::Failed || job.updated_at >= cutoff {
                continue;
            }
            match std::fs::remove_file(&job.spool_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "cannot remove an expired job's spool file");
                    continue;
                }
            }
            if self.store.delete_job(job.id)? {
                purged += 1;
                tracing::info!(job = %job.id, "failed job past its retention deleted");
            }
        }
        Ok(purged)
    }
}

/// Exponential back-off between delivery attempts of one job, with jitter.
fn job_backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.min(MAX_JOB_BACKOFF)
        .mul_f64(rand::thread_rng().gen_range(0.75..=1.0))
}

enum Failure {
    Transient(String, Option<Duration>),
    Permanent(String),
}

impl Failure {
    fn from_token(message: String, permanent: bool) -> Failure {
        if permanent {
            Failure::Permanent(format!("the user's sign-in is no longer valid: {message}"))
        } else {
            Failure::Transient(format!("no access token: {message}"), None)
        }
    }

    fn from_graph(e: &GraphError) -> Failure {
        match e {
            GraphError::Token { message, permanent } => {
                Failure::from_token(message.clone(), *permanent)
            }
            e if e.is_transient() => Failure::Transient(e.to_string(), e.retry_after()),
            // 401 after a fresh token: the grant itself is refused; keep trying later.
            e if e.is_unauthorized() => Failure::Transient(e.to_string(), None),
            e => Failure::Permanent(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_round_trip() {
        for d in [
            JobDestination::OneDrive,
            JobDestination::SharePoint {
                site: "contoso.sharepoint.com:/sites/Finance".into(),
                library: "Documents".into(),
            },
        ] {
            assert_eq!(JobDestination::from_json(&d.to_json()).unwrap(), d);
        }
        assert!(JobDestination::from_json(&serde_json::json!({"type": "ftp"})).is_err());
        assert!(JobDestination::from_json(&serde_json::json!({"type": "sharepoint"})).is_err());
    }

    #[test]
    fn job_backoff_doubles_and_is_capped() {
        let b = Duration::from_secs(30);
        assert!(job_backoff(b, 1) <= Duration::from_secs(30));
        assert!(job_backoff(b, 1) >= Duration::from_millis(22_500));
        assert!(job_backoff(b, 3) >= Duration::from_secs(90));
        assert!(job_backoff(b, 40) <= MAX_JOB_BACKOFF);
    }

    #[test]
    fn a_job_is_claimed_once() {
        let id = Uuid::new_v4();
        let first = Claim::take(id).unwrap();
        assert!(Claim::take(id).is_none());
        drop(first);
        assert!(Claim::take(id).is_some());
    }
}
