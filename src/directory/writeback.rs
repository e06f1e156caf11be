//! Fleet-wide enrollment (`directory.write_cards`): a card enrolled on this panel (self-
//! enrollment, the technician's service menu, `mfp-kiosk cards enroll`) is written to the
//! user's directory attribute (`directory.card_attribute`), so every other panel of the fleet
//! binds it at its next delta sync.
//!
//! - **Queue**: [`queue`] seals the canonical number with the device key and records it in
//!   `dir_card_writes` right after the local binding; the binding works at once, whatever
//!   Graph says later.
//! - **Format**: the value written is the inverse of `directory.card_normalise` applied to the
//!   canonical number (see [`directory_value`]), so the directory keeps its own format (hex in
//!   `extensionAttribute3`, say) and every panel's pipeline maps it back to the same number.
//!   A pipeline with a lossy step (`last:N`, `regex:`) cannot be inverted: the canonical number
//!   is written instead and the report says so.
//! - **One badge per attribute**: the attribute holds one badge. Before writing, the user's
//!   current value is read from Graph (read-modify-write); if it already maps to this card
//!   nothing is written; otherwise the newest enrolled card replaces it (a user who enrols a new
//!   badge after losing one wants the fleet to know the new one; other panels then drop the old
//!   directory badge at their next sync, cards enrolled on a panel stay where they were
//!   enrolled). A comma-separated list was rejected: every reader of the attribute (HR tools,
//!   other print systems) would have to split it, and a list only grows.
//! - **Worker**: [`run_pass`] works the due writes with the app token: `GET` then `PATCH
//!   /users/{id}` (needs `User.ReadWrite.All`). 429/503 honour `Retry-After`; 403 (permission
//!   not granted yet), 5xx and network failures stay queued with a doubling backoff (1 min to
//!   6 h); 400 (for instance `onPremisesExtensionAttributes` of a user synced from on-premises
//!   AD, which only AD may change) and 404 fail the write for good with Graph's reason. A card
//!   unbound or moved before its write went out is dropped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::credential::{read_limited, AppTokens};
use super::DirectoryError;
use crate::auth::card::{CardPipeline, NormaliseStep};
use crate::config::CardAttribute;
use crate::secrets::DeviceKey;
use crate::store::{CardWrite, RunCounts, Store, StoreError};

/// Writes worked per pass (a pass runs every minute while some are due).
const PASS_LIMIT: usize = 200;
/// First retry delay; doubled per failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// Largest Graph answer read for a user object or an error.
const MAX_BODY: usize = 256 * 1024;

/// How the value written relates to the directory's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// The inverse of `directory.card_normalise`: the directory's own format.
    Directory,
    /// The pipeline has a lossy step: the canonical number as is.
    Canonical,
}

/// The device key's associated data for a queued number: bound to its user.
fn aad(oid: &str) -> Vec<u8> {
    format!("card-write:{oid}").into_bytes()
}

/// The value to write for `canonical` so that `pipeline` (the directory's) maps it back to
/// `canonical`: each step inverted, last to first, and the result checked by running the
/// pipeline forward. Case, padding and leading zeros are left as they are (the forward
/// pipeline restores them).
pub fn directory_value(pipeline: &CardPipeline, canonical: &str) -> (String, ValueFormat) {
    let step = |s: &str| CardPipeline::parse(&[s.to_string()]).ok();
    let mut v = canonical.to_string();
    for s in pipeline.steps().iter().rev() {
        let inverse = match s {
            NormaliseStep::Trim
            | NormaliseStep::Upper
            | NormaliseStep::Lower
            | NormaliseStep::StripLeadingZeros
            | NormaliseStep::PadLeft(_) => continue,
            NormaliseStep::HexToDec => step("dec_to_hex"),
            NormaliseStep::DecToHex => step("hex_to_dec"),
            NormaliseStep::ReverseBytes => step("reverse_bytes"),
            NormaliseStep::Last(_) | NormaliseStep::Regex(_) => None,
        };
        match inverse.and_then(|p| p.apply(&v).ok()) {
            Some(next) => v = next,
            None => return (canonical.to_string(), ValueFormat::Canonical),
        }
    }
    if pipeline.apply(&v).ok().as_deref() == Some(canonical) {
        (v, ValueFormat::Directory)
    } else {
        (canonical.to_string(), ValueFormat::Canonical)
    }
}

/// Queues the write-back of a card just bound to `oid` (`normalised`: the canonical number the
/// readers' pipeline produced). Nothing is written in clear.
pub fn queue(
    store: &Store,
    key: &DeviceKey,
    oid: &str,
    normalised: &SecretString,
    at: DateTime<Utc>,
) -> Result<(), DirectoryError> {
    let hash = key.card_hash(normalised.expose_secret());
    let masked = crate::secrets::mask_card(normalised.expose_secret());
    let sealed = key
        .seal(normalised, &aad(oid))
        .map_err(|e| DirectoryError::Signing(e.to_string()))?;
    store.queue_card_write(oid, &hash, &sealed.to_text(), &masked, at)?;
    tracing::info!(card = %masked, "card queued for the directory write-back");
    Ok(())
}

/// What one write came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Written(ValueFormat),
    AlreadyThere,
    /// Refused for good; the reason is Graph's (or ours), nothing secret.
    Refused(String),
    /// Try again later; `throttled` stops the pass.
    Retry {
        reason: String,
        wait: Option<Duration>,
        throttled: bool,
    },
}

#[derive(Deserialize)]
struct GraphErrorEnvelope {
    error: GraphErrorBody,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Writes badges to the directory with the app token.
pub struct CardWriter {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Arc<AppTokens>,
    attribute: CardAttribute,
    pipeline: CardPipeline,
}

impl CardWriter {
    pub fn new(
        endpoint: Url,
        tokens: Arc<AppTokens>,
        attribute: CardAttribute,
        pipeline: CardPipeline,
    ) -> Result<CardWriter, DirectoryError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| DirectoryError::Network {
                service: "Graph",
                source,
            })?;
        Ok(CardWriter {
            http,
            endpoint,
            tokens,
            attribute,
            pipeline,
        })
    }

    /// Where the card goes, for the report.
    pub fn attribute_name(&self) -> String {
        match &self.attribute {
            CardAttribute::EmployeeId => "employeeId".into(),
            CardAttribute::ExtensionAttribute(n) => {
                format!("onPremisesExtensionAttributes.extensionAttribute{n}")
            }
            CardAttribute::Extension(name) => name.clone(),
        }
    }

    fn user_url(&self, oid: &str) -> Result<Url, DirectoryError> {
        let base = self.endpoint.as_str().trim_end_matches('/');
        let id: String = url::form_urlencoded::byte_serialize(oid.as_bytes()).collect();
        Url::parse(&format!("{base}/users/{id}")).map_err(|e| DirectoryError::Url(e.to_string()))
    }

    /// The PATCH body that sets the attribute to `value`.
    fn patch_body(&self, value: &str) -> serde_json::Value {
        match &self.attribute {
            CardAttribute::EmployeeId => serde_json::json!({ "employeeId": value }),
            CardAttribute::ExtensionAttribute(n) => serde_json::json!({
                "onPremisesExtensionAttributes": { format!("extensionAttribute{n}"): value }
            }),
            CardAttribute::Extension(name) => serde_json::json!({ name.as_str(): value }),
        }
    }

    /// A non-success answer as an outcome.
    async fn refusal(&self, response: reqwest::Response) -> Outcome {
        let status = response.status().as_u16();
        let retry_after = crate::graph::parse_retry_after(response.headers());
        let body = read_limited(response, MAX_BODY).await.unwrap_or_default();
        let (code, message) = match serde_json::from_slice::<GraphErrorEnvelope>(&body) {
            Ok(e) => (e.error.code, e.error.message),
            Err(_) => (String::new(), String::new()),
        };
        let graph_says = format!("Graph answered HTTP {status} {code}: {message}");
        match status {
            429 | 503 => Outcome::Retry {
                reason: graph_says,
                wait: retry_after,
                throttled: true,
            },
            403 => {
                // Consent may be granted any minute; the cached token predates it.
                self.tokens.invalidate();
                Outcome::Retry {
                    reason: format!(
                        "{graph_says} (the app registration lacks the application permission \
                         User.ReadWrite.All with admin consent)"
                    ),
                    wait: None,
                    throttled: false,
                }
            }
            400 | 404 => Outcome::Refused(graph_says),
            _ => Outcome::Retry {
                reason: graph_says,
                wait: retry_after,
                throttled: false,
            },
        }
    }

    async fn send(
        &self,
        build: impl Fn(&SecretString) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Outcome> {
        let mut renewed = false;
        loop {
            let token = self.tokens.token().await.map_err(|e| Outcome::Retry {
                reason: e.to_string(),
                wait: e.retry_after(),
                throttled: e.retry_after().is_some(),
            })?;
            let response = build(&token).send().await.map_err(|e| Outcome::Retry {
                reason: format!("cannot reach Microsoft Graph: {e}"),
                wait: None,
                throttled: false,
            })?;
            if response.status().as_u16() == 401 && !renewed {
                renewed = true;
                self.tokens.invalidate();
                continue;
            }
            return Ok(response);
        }
    }

    /// Reads the user's current value, then writes `canonical` in the directory's format
    /// unless the attribute already holds it.
    async fn write(&self, oid: &str, canonical: &SecretString) -> Outcome {
        let url = match self.user_url(oid) {
            Ok(u) => u,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        let mut get_url = url.clone();
        get_url.query_pairs_mut().append_pair(
            "$select",
            &format!("id,onPremisesSyncEnabled,{}", self.attribute.select_name()),
        );
        let response = match self
            .send(|t| {
                self.http
                    .get(get_url.clone())
                    .bearer_auth(t.expose_secret())
            })
            .await
        {
            Ok(r) => r,
            Err(o) => return o,
        };
        if !response.status().is_success() {
            return self.refusal(response).await;
        }
        let user: serde_json::Value = match read_limited(response, MAX_BODY)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(u) => u,
            None => {
                return Outcome::Retry {
                    reason: "Graph sent an unreadable user object".into(),
                    wait: None,
                    throttled: false,
                }
            }
        };
        let current = self
            .attribute
            .read(&user)
            .and_then(|v| self.pipeline.apply(v).ok());
        if current.as_deref() == Some(canonical.expose_secret()) {
            return Outcome::AlreadyThere;
        }
        let synced = user
            .get("onPremisesSyncEnabled")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if synced && matches!(self.attribute, CardAttribute::ExtensionAttribute(_)) {
            return Outcome::Refused(format!(
                "the user is synced from on-premises Active Directory: {} is mastered there \
                 (set it in AD, or use a directory extension extension_<appId>_<name>)",
                self.attribute_name()
            ));
        }
        let (value, format) = directory_value(&self.pipeline, canonical.expose_secret());
        let body = self.patch_body(&value);
        drop(value);
        let response = match self
            .send(|t| {
                self.http
                    .patch(url.clone())
                    .bearer_auth(t.expose_secret())
                    .json(&body)
            })
            .await
        {
            Ok(r) => r,
            Err(o) => return o,
        };
        if response.status().is_success() {
            Outcome::Written(format)
        } else {
            self.refusal(response).await
        }
    }
}

/// The delay before attempt `attempts + 1`.
fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.min(16)))
        .min(MAX_BACKOFF)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, DirectoryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DirectoryError::Task(e.to_string()))?
        .map_err(DirectoryError::Store)
}

/// Works the writes due now, recording each outcome under `run_id` and in `counts`. Stops
/// early when Graph throttles (the rest stay due).
pub async fn run_pass(
    store: &Store,
    key: &Arc<DeviceKey>,
    writer: &CardWriter,
    run_id: i64,
    counts: &mut RunCounts,
) -> Result<(), DirectoryError> {
    let s = store.clone();
    let due = blocking(move || s.due_card_writes(Utc::now(), PASS_LIMIT)).await?;
    for w in due {
        let (change, detail, throttled) = work_one(store, key, writer, &w).await?;
        counts.add_change(change);
        let (s, oid, detail2) = (store.clone(), w.user_oid.clone(), detail.clone());
        blocking(move || {
            let upn = s.user_by_oid(&oid)?.map(|u| u.upn).unwrap_or_default();
            s.record_provisioning_change(run_id, &oid, &upn, change, &detail2)
        })
        .await?;
        tracing::info!(change, %detail, "card write-back");
        if throttled {
            counts.throttled_waits += 1;
            break;
        }
    }
    Ok(())
}

/// One write: (report change, detail, throttled).
async fn work_one(
    store: &Store,
    key: &Arc<DeviceKey>,
    writer: &CardWriter,
    w: &CardWrite,
) -> Result<(&'static str, String, bool), DirectoryError> {
    let (s, hash) = (store.clone(), w.card_hash);
    let owner = blocking(move || s.card_owner(&hash)).await?;
    let finish = |state: &'static str, reason: Option<String>| {
        let (s, id) = (store.clone(), w.id);
        blocking(move || s.finish_card_write(id, state, reason.as_deref(), Utc::now()))
    };
    if owner.as_deref() != Some(w.user_oid.as_str()) {
        finish(
            "dropped",
            Some("unbound or moved before it was written".into()),
        )
        .await?;
        return Ok((
            "card_write_dropped",
            format!("{} no longer bound to this user; not written", w.masked),
            false,
        ));
    }
    let sealed = crate::secrets::SealedSecret::from_text(&w.card_sealed);
    let number = match sealed.and_then(|s| key.open(&s, &aad(&w.user_oid))) {
        Ok(n) => n,
        Err(_) => {
            let reason = "the queued number cannot be opened with this panel's device key";
            finish("failed", Some(reason.into())).await?;
            return Ok((
                "card_write_failed",
                format!("{}: {reason}", w.masked),
                false,
            ));
        }
    };
    let attr = writer.attribute_name();
    match writer.write(&w.user_oid, &number).await {
        Outcome::Written(format) => {
            finish("done", None).await?;
            let how = match format {
                ValueFormat::Directory => "",
                ValueFormat::Canonical => {
                    " as the canonical number (directory.card_normalise cannot be inverted)"
                }
            };
            Ok((
                "card_written",
                format!("{} written to {attr}{how}", w.masked),
                false,
            ))
        }
        Outcome::AlreadyThere => {
            finish("done", None).await?;
            Ok((
                "card_written",
                format!("{} already in {attr}; nothing to write", w.masked),
                false,
            ))
        }
        Outcome::Refused(reason) => {
            finish("failed", Some(reason.clone())).await?;
            Ok((
                "card_write_failed",
                format!("{} not written to {attr}: {reason}", w.masked),
                false,
            ))
        }
        Outcome::Retry {
            reason,
            wait,
            throttled,
        } => {
            let delay = wait.unwrap_or_else(|| backoff(w.attempts));
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            let (s, id, r) = (store.clone(), w.id, reason.clone());
            blocking(move || s.retry_card_write(id, &r, next)).await?;
            Ok((
                "card_write_retry",
                format!(
                    "{} not written yet ({reason}); next try in {} s",
                    w.masked,
                    delay.as_secs()
                ),
                throttled,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(steps: &[&str]) -> CardPipeline {
        CardPipeline::parse(&steps.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_value_written_maps_back_to_the_canonical_number() {
        let hex = p(&["hex_to_dec", "pad_left:10"]);
        let (v, f) = directory_value(&hex, "0004410003");
        assert_eq!(f, ValueFormat::Directory);
        assert_eq!(v, "434A93");
        assert_eq!(hex.apply(&v).unwrap(), "0004410003");

        let reversed = p(&["reverse_bytes", "hex_to_dec"]);
        let (v, f) = directory_value(&reversed, "77705923");
        assert_eq!(f, ValueFormat::Directory);
        assert_eq!(reversed.apply(&v).unwrap(), "77705923");

        let plain = p(&[]);
        assert_eq!(
            directory_value(&plain, "E12345"),
            ("E12345".into(), ValueFormat::Directory)
        );
    }

    #[test]
    fn a_lossy_pipeline_writes_the_canonical_number() {
        for steps in [&["last:8"][..], &["regex:^;(\\d+)="][..]] {
            let (v, f) = directory_value(&p(steps), "12345678");
            assert_eq!((v.as_str(), f), ("12345678", ValueFormat::Canonical));
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(480));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
