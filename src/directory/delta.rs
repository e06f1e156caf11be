//! The Microsoft Graph delta client: `/users/delta` and `/groups/delta`, one page at a time.
//!
//! A page is fetched, parsed into [`UserEntry`] / [`GroupEntry`] values and handed back; the
//! caller stages it before asking for the next, so memory holds one page whatever the tenant's
//! size. `@odata.nextLink` and `@odata.deltaLink` must point at the configured Graph host (the
//! app token is never sent anywhere else). 429 and 503 are waited out (`Retry-After`, else a
//! doubling pause) up to [`MAX_WAITS`] times per page; 401 fetches a new app token once;
//! `410 Gone` is [`DirectoryError::DeltaExpired`]: the caller starts a full resync.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::credential::{read_limited, AppTokens};
use super::DirectoryError;

/// Waits for a throttled page before the run gives up.
pub const MAX_WAITS: u32 = 6;
/// Longest single wait honoured; a longer `Retry-After` ends the run (the next one resumes).
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// Largest page read (Graph pages of 999 users with a few attributes are far smaller).
const MAX_PAGE: usize = 32 * 1024 * 1024;
/// Users per page asked for (`Prefer: odata.maxpagesize`).
pub const PAGE_SIZE: usize = 999;

/// One entry of `/users/delta`.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub id: String,
    /// `@removed.reason`: `changed` (soft-deleted, restorable) or `deleted`.
    pub removed: Option<String>,
    /// The selected properties, as Graph sent them.
    pub raw: serde_json::Value,
}

/// One member entry of `members@delta`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEntry {
    pub id: String,
    pub is_group: bool,
    pub removed: bool,
}

/// One entry of `/groups/delta`.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    pub id: String,
    /// The group itself was deleted.
    pub removed: bool,
    pub members: Vec<MemberEntry>,
}

/// A page and where to go next.
#[derive(Debug)]
pub struct Page<T> {
    pub entries: Vec<T>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
    /// 429/503 waits this page took.
    pub throttled_waits: u32,
}

#[derive(Deserialize)]
struct RawPage {
    #[serde(default)]
    value: Vec<serde_json::Value>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    delta_link: Option<String>,
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

/// Reads the directory through Graph with the app token.
pub struct DeltaClient {
    http: reqwest::Client,
    endpoint: Url,
    tokens: Arc<AppTokens>,
}

impl DeltaClient {
    pub fn new(endpoint: Url, tokens: Arc<AppTokens>) -> Result<DeltaClient, DirectoryError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|source| DirectoryError::Network {
                service: "Graph",
                source,
            })?;
        Ok(DeltaClient {
            http,
            endpoint,
            tokens,
        })
    }

    pub fn tokens(&self) -> &Arc<AppTokens> {
        &self.tokens
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.as_str().trim_end_matches('/'))
    }

    /// The first page of a users delta that selects exactly `select`.
    pub fn users_start(&self, select: &[String]) -> String {
        let mut url =
            Url::parse(&self.url("/users/delta")).unwrap_or_else(|_| self.endpoint.clone());
        url.query_pairs_mut()
            .append_pair("$select", &select.join(","));
        url.to_string()
    }

    /// The first page of a groups delta over `groups` (their members only).
    pub fn groups_start(&self, groups: &[String]) -> String {
        let filter = groups
            .iter()
            .map(|g| format!("id eq '{g}'"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut url =
            Url::parse(&self.url("/groups/delta")).unwrap_or_else(|_| self.endpoint.clone());
        url.query_pairs_mut()
            .append_pair("$filter", &filter)
            .append_pair("$select", "members");
        url.to_string()
    }

    /// Whether a stored link was made by the configured Graph (after `graph.endpoint` changed,
    /// it was not: a full resync starts instead).
    pub fn is_ours(&self, link: &str) -> bool {
        self.check_link(link).is_ok()
    }

    /// A link Graph handed out must lead back to the configured Graph host.
    fn check_link(&self, link: &str) -> Result<Url, DirectoryError> {
        let url = Url::parse(link).map_err(|e| DirectoryError::Url(format!("{e}")))?;
        let same = url.scheme() == self.endpoint.scheme()
            && url.host_str() == self.endpoint.host_str()
            && url.port_or_known_default() == self.endpoint.port_or_known_default();
        if !same {
            return Err(DirectoryError::Unexpected {
                service: "Graph",
                detail: format!(
                    "a paging link points to {}, not the configured Graph host",
                    url.host_str().unwrap_or("?")
                ),
            });
        }
        Ok(url)
    }

    async fn get_raw(&self, link: &str) -> Result<(RawPage, u32), DirectoryError> {
        let url = self.check_link(link)?;
        let mut waits = 0u32;
        let mut renewed = false;
        loop {
            let token = self.tokens.token().await?;
            let response = self
                .http
                .get(url.clone())
                .bearer_auth(token.expose_secret())
                .header("Prefer", format!("odata.maxpagesize={PAGE_SIZE}"))
                .send()
                .await
                .map_err(|source| DirectoryError::Network {
                    service: "Graph",
                    source,
                })?;
            let status = response.status().as_u16();
            if status == 200 {
                let body = read_limited(response, MAX_PAGE).await?;
                let page: RawPage =
                    serde_json::from_slice(&body).map_err(|e| DirectoryError::Unexpected {
                        service: "Graph",
                        detail: format!("unreadable delta page: {e}"),
                    })?;
                return Ok((page, waits));
            }
            let retry_after = crate::graph::parse_retry_after(response.headers());
            if matches!(status, 429 | 503) {
                let wait =
                    retry_after.unwrap_or_else(|| Duration::from_secs(2u64.pow(waits.min(6))));
                if waits >= MAX_WAITS || wait > MAX_WAIT {
                    return Err(DirectoryError::Throttled {
                        service: "Graph",
                        retry_after,
                    });
                }
                waits += 1;
                tracing::info!(
                    status,
                    wait_s = wait.as_secs(),
                    "Graph throttles the directory sync; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if status == 401 && !renewed {
                renewed = true;
                self.tokens.invalidate();
                continue;
            }
            if status == 410 {
                return Err(DirectoryError::DeltaExpired);
            }
            let body = read_limited(response, 64 * 1024).await.unwrap_or_default();
            let (code, message) = match serde_json::from_slice::<GraphErrorEnvelope>(&body) {
                Ok(e) => (e.error.code, e.error.message),
                Err(_) => (String::new(), String::new()),
            };
            // Graph also answers an expired delta token with 400 and one of these codes.
            if matches!(
                code.as_str(),
                "resyncRequired" | "syncStateNotFound" | "syncStateInvalid"
            ) {
                return Err(DirectoryError::DeltaExpired);
            }
            return Err(DirectoryError::Api {
                service: "Graph",
                status,
                code,
                message,
            });
        }
    }

    /// One page of a users delta.
    pub async fn users_page(&self, link: &str) -> Result<Page<UserEntry>, DirectoryError> {
        let (raw, waits) = self.get_raw(link).await?;
        let mut entries = Vec::with_capacity(raw.value.len());
        for v in raw.value {
            let Some(id) = v.get("id").and_then(|i| i.as_str()).map(str::to_string) else {
                continue;
            };
            let removed = v.get("@removed").map(|r| {
                r.get("reason")
                    .and_then(|x| x.as_str())
                    .unwrap_or("deleted")
                    .to_string()
            });
            entries.push(UserEntry {
                id,
                removed,
                raw: v,
            });
        }
        Ok(Page {
            entries,
            next_link: raw.next_link,
            delta_link: raw.delta_link,
            throttled_waits: waits,
        })
    }

    /// One page of a groups delta.
    pub async fn groups_page(&self, link: &str) -> Result<Page<GroupEntry>, DirectoryError> {
        let (raw, waits) = self.get_raw(link).await?;
        let mut entries = Vec::with_capacity(raw.value.len());
        for v in raw.value {
            let Some(id) = v.get("id").and_then(|i| i.as_str()).map(str::to_string) else {
                continue;
            };
            let members = v
                .get("members@delta")
                .and_then(|m| m.as_array())
                .map(|list| {
                    list.iter()
                        .filter_map(|m| {
                            Some(MemberEntry {
                                id: m.get("id")?.as_str()?.to_string(),
                                is_group: m
                                    .get("@odata.type")
                                    .and_then(|t| t.as_str())
                                    .is_some_and(|t| {
                                        t.eq_ignore_ascii_case("#microsoft.graph.group")
                                    }),
                                removed: m.get("@removed").is_some(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            entries.push(GroupEntry {
                id,
                removed: v.get("@removed").is_some(),
                members,
            });
        }
        Ok(Page {
            entries,
            next_link: raw.next_link,
            delta_link: raw.delta_link,
            throttled_waits: waits,
        })
    }
}
