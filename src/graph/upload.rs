//! The resilient uploader: one call that gets a file into a drive exactly once, whatever the
//! network and the service do in between.
//!
//! - Below [`SESSION_THRESHOLD`] one streamed PUT; above, an upload session in
//!   [`FragmentSize`] pieces, resumed from `nextExpectedRanges` after a failure and started
//!   again when the session answers 404.
//! - 429 and 503 wait for `Retry-After`; other 5xx and network errors back off exponentially
//!   with jitter; a 401 fetches a fresh token from the [`TokenSource`] and carries on.
//! - Before resending anything that may already have completed (a retried job, a lost answer to
//!   the last fragment or a simple PUT, a vanished session), the folder is searched for a file
//!   of the same size and QuickXorHash under the requested name or a `rename` variant of it, so
//!   a file is never uploaded twice.
//! - The session URL is handed to a [`SessionStore`] as soon as it exists, so a restarted
//!   process resumes instead of starting over.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rand::Rng;
use secrecy::SecretString;

use super::session::{FragmentOutcome, UploadSession};
use super::{
    quickxor, ConflictBehavior, DriveItem, DriveTarget, FragmentSize, GraphClient, GraphError,
    ProgressFn, UploadUrl,
};

/// Files at least this large go through an upload session (Microsoft suggests sessions above
/// 4 MiB: a lost connection then costs one fragment, not the whole file).
pub const SESSION_THRESHOLD: u64 = 4 * 1024 * 1024;

/// Why no token could be had.
#[derive(Debug, Clone)]
pub struct TokenError {
    pub message: String,
    /// The user's sign-in is gone for good (refresh token revoked or rejected).
    pub permanent: bool,
}

pub type BoxedTokenFuture<'a> = BoxFuture<'a, Result<SecretString, TokenError>>;

/// Hands out the delegated access token of the job's user.
pub trait TokenSource: Send + Sync {
    /// A token; with `refresh` the previous one was refused (expired mid-upload), so a new one
    /// must be fetched (silently, from the cached refresh token).
    fn token(&self, refresh: bool) -> BoxedTokenFuture<'_>;
}

/// Remembers the session URL (`Some`) or forgets it (`None`) across process restarts.
pub type SessionStore = Arc<dyn Fn(Option<&UploadUrl>) + Send + Sync>;

/// How hard to try before handing the job back to the outbox.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First back-off delay; doubles per consecutive failure.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Consecutive failures (without any progress) before giving up.
    pub max_failures: u32,
    /// A `Retry-After` longer than this is not waited out here: the error goes back to the
    /// caller, which reschedules the job.
    pub max_retry_after: Duration,
    // The deadline of one request (a fragment or a simple PUT) is the client's
    // `Timeouts::for_body`: it grows with the body, which a fixed bound here could not.
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_failures: 8,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential back-off with jitter: a random delay in [½, 1] × min(max, base × 2^n).
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

/// One file to put into a drive.
#[derive(Clone)]
pub struct UploadRequest<'a> {
    pub drive: &'a DriveTarget,
    pub folder: &'a str,
    pub name: &'a str,
    pub file: &'a Path,
    pub conflict: ConflictBehavior,
    pub fragment: FragmentSize,
    /// Files of at least this size use an upload session.
    pub threshold: u64,
    /// A session URL saved by an earlier attempt.
    pub resume: Option<UploadUrl>,
    /// An earlier attempt may have completed: look for the file before sending anything.
    pub maybe_landed: bool,
    pub progress: Option<ProgressFn>,
    pub on_session: Option<SessionStore>,
    /// The new item's description; only an upload session can set it (set `threshold` to 0).
    pub description: Option<String>,
}

impl<'a> UploadRequest<'a> {
    /// Defaults: `rename` on conflict, 10 MiB fragments, sessions from 4 MiB.
    pub fn new(drive: &'a DriveTarget, folder: &'a str, name: &'a str, file: &'a Path) -> Self {
        UploadRequest {
            drive,
            folder,
            name,
            file,
            conflict: ConflictBehavior::Rename,
            fragment: FragmentSize::DEFAULT,
            threshold: SESSION_THRESHOLD,
            resume: None,
            maybe_landed: false,
            progress: None,
            on_session: None,
            description: None,
        }
    }
}

/// Uploads files with retries, resume and duplicate protection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Uploader {
    graph: GraphClient,
    policy: RetryPolicy,
}

/// Which kind of request failed: it decides what a 404 means.
enum Failure {
    /// A request on the drive (simple PUT, createUploadSession, listing): 404 = destination gone.
    Drive(GraphError),
    /// A request on the session URL: 404 = the session is gone, start again.
    Session(GraphError),
    /// A request that may have completed the file before it failed (simple PUT, last fragment).
    Completing(GraphError),
}

enum Step {
    Done(DriveItem),
    /// The session is gone; start a new one (after checking the file did not land).
    Restart,
}

struct Attempt<'r, 'a> {
    req: &'r UploadRequest<'a>,
    size: u64,
    token: SecretString,
    session: Option<UploadUrl>,
    maybe_landed: bool,
    hash: Option<String>,
    /// Set when a request moved the upload forward: resets the failure count.
    progressed: bool,
}

impl Uploader {
    pub fn new(graph: GraphClient, policy: RetryPolicy) -> Self {
        Uploader { graph, policy }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Puts `req.file` into the drive and returns the item. Errors that retrying here cannot fix
    /// (403, 404 on the drive, bad names, a long `Retry-After`, too many failures in a row) come
    /// back for the caller to reschedule or fail the job.
    pub async fn upload(
        &self,
        req: &UploadRequest<'_>,
        tokens: &dyn TokenSource,
    ) -> Result<DriveItem, GraphError> {
        let size = tokio::fs::metadata(req.file)
            .await
            .map_err(|source| GraphError::File {
                path: req.file.to_path_buf(),
                source,
            })?
            .len();
        let token = tokens.token(false).await.map_err(token_error)?;
        let mut attempt = Attempt {
            req,
            size,
            token,
            session: req.resume.clone(),
            maybe_landed: req.maybe_landed,
            hash: None,
            progressed: false,
        };
        let mut failures = 0u32;
        let mut refreshed_after_failure = false;
        loop {
            attempt.progressed = false;
            let failure = match self.step(&mut attempt).await {
                Ok(Step::Done(item)) => {
                    if let Some(store) = &req.on_session {
                        store(None);
                    }
                    return Ok(item);
                }
                Ok(Step::Restart) => {
                    failures += 1;
                    if failures > self.policy.max_failures {
                        return Err(GraphError::GaveUp {
                            attempts: failures,
                            last: Box::new(GraphError::UnexpectedResponse(
                                "upload sessions keep disappearing".into(),
                            )),
                        });
                    }
                    continue;
                }
                Err(f) => f,
            };
            if attempt.progressed {
                failures = 0;
                refreshed_after_failure = false;
            }
            failures += 1;
            let (err, on_session) = match failure {
                Failure::Drive(e) => (e, false),
                Failure::Session(e) => (e, true),
                Failure::Completing(e) => {
                    // The answer was lost, not necessarily the file.
                    if e.status().is_none_or(|s| s >= 500) {
                        attempt.maybe_landed = true;
                    }
                    (e, false)
                }
            };
            if failures > self.policy.max_failures {
                return Err(GraphError::GaveUp {
                    attempts: failures,
                    last: Box::new(err),
                });
            }
            match err.status() {
                Some(401) if !on_session && !refreshed_after_failure => {
                    tracing::info!("access token refused mid-upload; refreshing it");
                    refreshed_after_failure = true;
                    attempt.token = tokens.token(true).await.map_err(token_error)?;
                    continue;
                }
                Some(404) if on_session => {
                    tracing::info!("upload session gone (404); starting a new one");
                    attempt.forget_session();
                    attempt.maybe_landed = true;
                    continue;
                }
                Some(416) if on_session => {
                    // Out of step with the service: ask it where it is.
                    tracing::info!("fragment range refused (416); re-reading the session");
                    continue;
                }
                _ => {}
            }
            if !err.is_transient() {
                return Err(err);
            }
            let delay = match err.retry_after() {
                Some(after) if after > self.policy.max_retry_after => return Err(err),
                Some(after) => after,
                None => self.policy.backoff(failures),
            };
            tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, failures,
                "upload request failed; retrying");
            // Progress back to nothing: bytes handed to a connection that then failed were
            // not delivered, and a waiting user should learn that (see `app::jobs`).
            if let Some(progress) = &req.progress {
                progress(0, attempt.size);
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn step(&self, a: &mut Attempt<'_, '_>) -> Result<Step, Failure> {
        let req = a.req;
        if a.maybe_landed {
            if let Some(item) = self.find_landed(a).await.map_err(Failure::Drive)? {
                tracing::info!(name = %item.name, "the file is already in the drive; not sending it again");
                return Ok(Step::Done(item));
            }
            a.maybe_landed = false;
        }
        if a.size < req.threshold && a.session.is_none() {
            let item = self
                .graph
                .upload_small_to(
                    &a.token,
                    req.drive,
                    req.folder,
                    req.name,
                    req.file,
                    req.conflict,
                    req.progress.clone(),
                )
                .await
                .map_err(Failure::Completing)?;
            return Ok(Step::Done(item));
        }
        let mut session = match a.session.clone() {
            Some(url) => match self.graph.upload_session_status(&url).await {
                Ok(s) => s,
                Err(e) if e.status() == Some(404) => {
                    tracing::info!("upload session gone (404); starting a new one");
                    a.forget_session();
                    a.maybe_landed = true;
                    return Ok(Step::Restart);
                }
                Err(e) => return Err(Failure::Session(e)),
            },
            None => {
                let s = self
                    .graph
                    .create_upload_session_described(
                        &a.token,
                        req.drive,
                        req.folder,
                        req.name,
                        a.size,
                        req.conflict,
                        req.description.as_deref(),
                    )
                    .await
                    .map_err(Failure::Drive)?;
                if let Some(store) = &req.on_session {
                    store(Some(&s.url));
                }
                a.session = Some(s.url.clone());
                a.progressed = true;
                s
            }
        };
        self.send_fragments(a, &mut session).await
    }

    async fn send_fragments(
        &self,
        a: &mut Attempt<'_, '_>,
        session: &mut UploadSession,
    ) -> Result<Step, Failure> {
        let req = a.req;
        loop {
            let start = session.next_offset;
            if start >= a.size {
                return Err(Failure::Session(GraphError::UnexpectedResponse(format!(
                    "the service expects byte {start} of a {}-byte file",
                    a.size
                ))));
            }
            let mut end = (start + req.fragment.bytes()).min(a.size);
            if let Some(range_end) = session.range_end {
                end = end.min(range_end + 1);
            }
            let last = end == a.size;
            let outcome = self
                .graph
                .put_fragment(
                    &session.url,
                    req.file,
                    start,
                    end - start,
                    a.size,
                    self.graph.timeouts().for_body(end - start),
                    req.progress.clone(),
                )
                .await;
            match outcome {
                Ok(FragmentOutcome::More {
                    next_offset,
                    range_end,
                }) => {
                    a.progressed = true;
                    session.next_offset = next_offset;
                    session.range_end = range_end;
                }
                Ok(FragmentOutcome::Done(item)) => return Ok(Step::Done(item)),
                Err(e) if last && e.status() != Some(404) && e.status() != Some(416) => {
                    return Err(Failure::Completing(e))
                }
                Err(e) => return Err(Failure::Session(e)),
            }
        }
    }

    /// A file in the target folder with our content under our name or a `rename` variant.
    async fn find_landed(&self, a: &mut Attempt<'_, '_>) -> Result<Option<DriveItem>, GraphError> {
        let req = a.req;
        let children = self
            .graph
            .list_children(&a.token, req.drive, req.folder)
            .await?;
        let candidates: Vec<DriveItem> = children
            .into_iter()
            .filter(|c| !c.is_folder && c.size == a.size && is_variant_of(&c.name, req.name))
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        if a.hash.is_none() {
            let path = req.file.to_path_buf();
            let hash = tokio::task::spawn_blocking(move || quickxor::hash_file(&path))
                .await
                .map_err(|e| GraphError::UnexpectedResponse(format!("hash task: {e}")))?
                .map_err(|source| GraphError::File {
                    path: req.file.to_path_buf(),
                    source,
                })?;
            a.hash = Some(hash);
        }
        Ok(candidates.into_iter().find(|c| match &c.quick_xor_hash {
            Some(h) => Some(h) == a.hash.as_ref(),
            // A drive that reports no hash: same name family and size is the best evidence.
            None => true,
        }))
    }
}

impl Attempt<'_, '_> {
    fn forget_session(&mut self) {
        self.session = None;
        if let Some(store) = &self.req.on_session {
            store(None);
        }
    }
}

fn token_error(e: TokenError) -> GraphError {
    GraphError::Token {
        message: e.message,
        permanent: e.permanent,
    }
}

/// `name` itself, or the `name N.ext` OneDrive makes of it under `rename` (case-insensitive).
pub(crate) fn is_variant_of(candidate: &str, name: &str) -> bool {
    let candidate = candidate.to_lowercase();
    let name = name.to_lowercase();
    if candidate == name {
        return true;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    let Some(middle) = candidate
        .strip_prefix(&stem)
        .and_then(|rest| rest.strip_suffix(&ext))
        .and_then(|rest| rest.strip_prefix(' '))
    else {
        return false;
    };
    !middle.is_empty() && middle.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_variants_are_recognised() {
        assert!(is_variant_of("Scan.pdf", "scan.pdf"));
        assert!(is_variant_of("Scan 1.pdf", "Scan.pdf"));
        assert!(is_variant_of("scan 12.PDF", "Scan.pdf"));
        assert!(is_variant_of("README 2", "README"));
        assert!(!is_variant_of("Scan copy.pdf", "Scan.pdf"));
        assert!(!is_variant_of("Scan 1.pdf.pdf", "Scan.pdf"));
        assert!(!is_variant_of("Scan .pdf", "Scan.pdf"));
        assert!(!is_variant_of("Other 1.pdf", "Scan.pdf"));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_secs(1));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_secs(2) && d3 <= Duration::from_secs(4));
            assert!(p.backoff(30) <= Duration::from_secs(10));
        }
    }
}
