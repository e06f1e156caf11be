//! One directory sync run: groups delta (nested groups expanded), users delta, then the panel's
//! users reconciled with what was staged, all recorded as a provisioning run.
//!
//! Each delta query resumes from its stored delta link; without one (first run, a changed
//! `$select` or groups filter) or when Graph says the link expired (410), it starts over as a
//! full resync whose last page sweeps what it did not see (mark and sweep). Pages are staged as
//! they arrive, one transaction each, the last one with the new delta link: a run killed at
//! any point leaves the link no further than the data, and the next run replays from there
//! (replays change nothing). Reconciling always covers every user in scope or provisioned
//! before, so a run that died after staging is completed by the next one.
//!
//! One run at a time per state directory (an exclusive `flock`): the panel's periodic worker
//! and `mfp-kiosk directory sync` never interleave.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use chrono::Utc;
use secrecy::ExposeSecret;

use super::apply::{self, ApplyContext};
use super::credential::{AppCredential, AppTokens};
use super::delta::{DeltaClient, GroupEntry, UserEntry};
use super::writeback::{self, CardWriter};
use super::DirectoryError;
use crate::auth::card::CardPipeline;
use crate::config::{CardAttribute, Config};
use crate::identity::provisioning::ProvisioningRules;
use crate::secrets::{self, DeviceKey};
use crate::store::{DirUser, LinkUpdate, MemberDelta, RunCounts, Store};

/// Directory users reconciled per transaction.
const BATCH: usize = 2_000;
/// Delta entries staged per transaction: a few pages, so a large tenant costs tens of commits
/// (each one a WAL sync), not hundreds, while memory still holds only these entries.
const STAGE_BATCH: usize = 5_000;
/// Rounds of "found nested groups, widen the filter" in one run.
const MAX_NESTING_ROUNDS: usize = 8;

/// What the sync needs, built once from the config.
pub struct Directory {
    groups: Vec<String>,
    select: Vec<String>,
    card_attribute: Option<CardAttribute>,
    pipeline: CardPipeline,
    extra: Vec<String>,
    rules: ProvisioningRules,
    fallback_tenant: String,
    delta: DeltaClient,
    /// Fleet-wide enrollment, with `directory.write_cards`.
    writer: Option<CardWriter>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub run_id: i64,
    pub counts: RunCounts,
    /// Oids revoked by this run (their open sessions end).
    pub revoked: Vec<String>,
}

impl Directory {
    /// From a config with `[directory]` enabled: loads the credential and builds the clients.
    pub fn from_config(config: &Config) -> Result<Directory, DirectoryError> {
        if !config.directory.enabled {
            return Err(DirectoryError::Disabled);
        }
        let credential = AppCredential::load(config)?;
        Self::with_credential(config, credential)
    }

    pub fn with_credential(
        config: &Config,
        credential: AppCredential,
    ) -> Result<Directory, DirectoryError> {
        let d = &config.directory;
        let tokens = Arc::new(AppTokens::new(config, credential)?);
        let endpoint = url::Url::parse(&config.graph.endpoint)
            .map_err(|e| DirectoryError::Url(format!("graph.endpoint: {e}")))?;
        let mut groups = d.groups.clone();
        groups.sort();
        groups.dedup();
        let writer = match (d.write_cards, d.card_attribute()) {
            (true, Some(attribute)) => Some(CardWriter::new(
                endpoint.clone(),
                tokens.clone(),
                attribute,
                d.card_pipeline()?,
            )?),
            _ => None,
        };
        Ok(Directory {
            writer,
            groups,
            select: d.select(),
            card_attribute: d.card_attribute(),
            pipeline: d.card_pipeline()?,
            extra: d.extra_attributes.clone(),
            rules: ProvisioningRules::from_config(&config.entra),
            fallback_tenant: config.entra.tenant.clone(),
            delta: DeltaClient::new(endpoint, tokens)?,
        })
    }

    pub fn tokens(&self) -> &Arc<AppTokens> {
        self.delta.tokens()
    }

    /// Whether cards enrolled on the panel are written to the directory.
    pub fn writes_cards(&self) -> bool {
        self.writer.is_some()
    }

    /// A staged user from one users-delta entry: the badge goes through the directory
    /// pipeline and the device key at once; its number is kept nowhere.
    fn dir_user(&self, e: &UserEntry, key: &DeviceKey) -> DirUser {
        let s = |k: &str| e.raw.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let mut attrs = serde_json::Map::new();
        let card_select = self.card_attribute.as_ref().map(CardAttribute::select_name);
        for name in ["department", "jobTitle", "employeeId", "preferredLanguage"]
            .into_iter()
            .chain(self.extra.iter().map(String::as_str))
        {
            // The badge attribute is a credential: never kept in clear.
            if card_select.as_deref() == Some(name) {
                continue;
            }
            if let Some(v) = e.raw.get(name).filter(|v| !v.is_null()) {
                attrs.insert(name.to_string(), v.clone());
            }
        }
        let (card, card_error) = match self.card_attribute.as_ref().and_then(|a| a.read(&e.raw)) {
            Some(raw) => match self.pipeline.apply(raw) {
                Ok(n) => (Some((key.card_hash(&n), secrets::mask_card(&n))), None),
                Err(err) => (None, Some(err.to_string())),
            },
            None => (None, None),
        };
        let upn = s("userPrincipalName").unwrap_or_default();
        DirUser {
            oid: e.id.clone(),
            display_name: s("displayName").unwrap_or_else(|| upn.clone()),
            upn,
            mail: s("mail"),
            mail_nickname: s("mailNickname"),
            enabled: e
                .raw
                .get("accountEnabled")
                .and_then(|v| v.as_bool())
                .unwrap_or(true),
            attrs,
            cards: card.into_iter().collect(),
            card_error,
            memberships: None,
        }
    }
}

/// Holds the state directory's sync lock until dropped.
struct SyncLock(#[allow(dead_code)] Option<std::fs::File>);

fn take_lock(dir: Option<&Path>) -> Result<SyncLock, DirectoryError> {
    let Some(dir) = dir else {
        return Ok(SyncLock(None));
    };
    let path: PathBuf = dir.join("locks").join("directory-sync.lock");
    let file_err = |source| DirectoryError::File {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        crate::fsmode::private_dir(parent)?;
    }
    let file = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
        0o600,
    )
    .open(&path)
    .map_err(file_err)?;
    // SAFETY: flock on a descriptor this function owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(DirectoryError::File {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "another directory sync is running on this state directory",
            ),
        });
    }
    Ok(SyncLock(Some(file)))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, DirectoryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DirectoryError::Task(e.to_string()))?
        .map_err(DirectoryError::Store)
}

/// The tenant id in an app token (`tid`), for users created from the directory.
fn token_tenant(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("tid")?.as_str().map(str::to_string)
}

/// Runs one sync and records it as a provisioning run started by `source`.
pub async fn run(
    store: &Store,
    key: &Arc<DeviceKey>,
    dir: &Directory,
    source: &str,
) -> Result<SyncReport, DirectoryError> {
    recorded(store, key, dir, source, "directory_sync").await
}

/// Works the due card write-backs only (no delta), recorded as a `card_writeback` run: what
/// the worker does between two syncs so an enrolled card reaches the directory within a
/// minute, not at the next sync.
pub async fn write_back(
    store: &Store,
    key: &Arc<DeviceKey>,
    dir: &Directory,
    source: &str,
) -> Result<SyncReport, DirectoryError> {
    recorded(store, key, dir, source, "card_writeback").await
}

async fn recorded(
    store: &Store,
    key: &Arc<DeviceKey>,
    dir: &Directory,
    source: &str,
    kind: &'static str,
) -> Result<SyncReport, DirectoryError> {
    let _lock = take_lock(store.dir().as_deref())?;
    let s = store.clone();
    let src = source.to_string();
    let run_id = blocking(move || s.start_provisioning_run(&src, kind, Utc::now())).await?;
    let mut report = SyncReport {
        run_id,
        ..Default::default()
    };
    let result = match kind {
        "card_writeback" => match &dir.writer {
            Some(w) => writeback::run_pass(store, key, w, run_id, &mut report.counts).await,
            None => Ok(()),
        },
        _ => run_inner(store, key, dir, &mut report).await,
    };
    let (outcome, error) = match &result {
        Ok(()) => ("ok", None),
        Err(e) => ("failed", Some(e.to_string())),
    };
    if result.is_err() {
        report.counts.errors += 1;
    }
    let s = store.clone();
    let counts = report.counts;
    blocking(move || {
        s.finish_provisioning_run(run_id, outcome, &counts, error.as_deref(), Utc::now())
    })
    .await?;
    tracing::info!(
        run_id,
        outcome,
        created = counts.created,
        updated = counts.updated,
        revoked = counts.revoked,
        re_enabled = counts.re_enabled,
        cards_added = counts.cards_added,
        conflicts = counts.conflicts,
        cards_written = counts.cards_written,
        kind,
        "directory run done"
    );
    result.map(|()| report)
}

async fn run_inner(
    store: &Store,
    key: &Arc<DeviceKey>,
    dir: &Directory,
    report: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let token = dir.tokens().token().await?;
    let tenant = token_tenant(token.expose_secret()).unwrap_or_else(|| dir.fallback_tenant.clone());
    drop(token);

    // Write-back first: this run's delta then already carries what it wrote.
    if let Some(w) = &dir.writer {
        writeback::run_pass(store, key, w, report.run_id, &mut report.counts).await?;
    }

    // Groups first, widening the filter until it covers every nested group; start from the
    // nesting the last run found, so an unchanged tree keeps its delta link.
    let s = store.clone();
    let roots = dir.groups.clone();
    let mut tracked = blocking(move || s.dir_group_closure(&roots)).await?;
    for _ in 0..MAX_NESTING_ROUNDS {
        sync_groups(store, dir, &tracked, report).await?;
        let s = store.clone();
        let roots = dir.groups.clone();
        let closure = blocking(move || s.dir_group_closure(&roots)).await?;
        if closure.iter().all(|g| tracked.contains(g)) {
            break;
        }
        tracked = closure;
    }
    sync_users(store, key, dir, report).await?;
    reconcile(store, dir, &tenant, report).await
}

/// Group ids per groups delta query: Graph's `$filter` on `/groups/delta` takes at most 50
/// `id eq` expressions, so a larger scope is tracked by several queries, each with its link.
pub const GROUPS_PER_QUERY: usize = 50;

/// The stored link name of the `i`th groups query (the first keeps the name older versions
/// used, so an upgraded panel resumes its delta).
fn groups_link_name(i: usize) -> String {
    match i {
        0 => "groups".into(),
        i => format!("groups:{i}"),
    }
}

async fn sync_groups(
    store: &Store,
    dir: &Directory,
    tracked: &[String],
    report: &mut SyncReport,
) -> Result<(), DirectoryError> {
    for (i, chunk) in tracked.chunks(GROUPS_PER_QUERY).enumerate() {
        let query = Query::Groups;
        page_through(
            store,
            dir,
            &query,
            groups_link_name(i),
            chunk.join(","),
            dir.delta.groups_start(chunk),
            report,
        )
        .await?;
    }
    Ok(())
}

async fn next_epoch(store: &Store) -> Result<i64, DirectoryError> {
    let s = store.clone();
    blocking(move || s.dir_next_epoch()).await
}

async fn sync_users(
    store: &Store,
    key: &Arc<DeviceKey>,
    dir: &Directory,
    report: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let query = Query::Users(key.clone());
    page_through(
        store,
        dir,
        &query,
        "users".into(),
        dir.select.join(","),
        dir.delta.users_start(&dir.select),
        report,
    )
    .await
}

/// Which delta query a pager walks.
enum Query {
    /// `/users/delta`; badges are hashed with this key as they are staged.
    Users(Arc<DeviceKey>),
    Groups,
}

/// Entries of one or more pages, not staged yet.
#[derive(Default)]
struct Pending {
    users: Vec<DirUser>,
    removed_users: Vec<String>,
    members: Vec<MemberDelta>,
    removed_groups: Vec<String>,
}

impl Pending {
    fn len(&self) -> usize {
        self.users.len() + self.removed_users.len() + self.members.len() + self.removed_groups.len()
    }
}

/// A fetched page, whatever the query.
struct Fetched {
    next_link: Option<String>,
    delta_link: Option<String>,
    throttled_waits: u32,
}

impl Query {
    /// Fetches one page and adds its entries to `pending`.
    async fn fetch(
        &self,
        dir: &Directory,
        link: &str,
        pending: &mut Pending,
        report: &mut SyncReport,
    ) -> Result<Fetched, DirectoryError> {
        match self {
            Query::Users(key) => {
                let page = dir.delta.users_page(link).await?;
                report.counts.users_seen += page.entries.len() as u64;
                for e in &page.entries {
                    match &e.removed {
                        Some(_) => pending.removed_users.push(e.id.clone()),
                        None => pending.users.push(dir.dir_user(e, key)),
                    }
                }
                Ok(Fetched {
                    next_link: page.next_link,
                    delta_link: page.delta_link,
                    throttled_waits: page.throttled_waits,
                })
            }
            Query::Groups => {
                let page = dir.delta.groups_page(link).await?;
                for GroupEntry {
                    id,
                    removed,
                    members,
                } in page.entries
                {
                    if removed {
                        pending.removed_groups.push(id.clone());
                    }
                    report.counts.members_seen += members.len() as u64;
                    pending
                        .members
                        .extend(members.into_iter().map(|m| MemberDelta {
                            group_id: id.clone(),
                            member_id: m.id,
                            is_group: m.is_group,
                            removed: m.removed,
                        }));
                }
                Ok(Fetched {
                    next_link: page.next_link,
                    delta_link: page.delta_link,
                    throttled_waits: page.throttled_waits,
                })
            }
        }
    }

    /// Stages `pending` in one transaction, with the link update of the query's last page.
    async fn stage(
        &self,
        store: &Store,
        pending: Pending,
        epoch: i64,
        update: Option<LinkUpdate>,
    ) -> Result<(), DirectoryError> {
        let s = store.clone();
        match self {
            Query::Users(_) => {
                blocking(move || {
                    s.dir_stage_users(
                        &pending.users,
                        &pending.removed_users,
                        epoch,
                        update.as_ref(),
                        Utc::now(),
                    )
                })
                .await
            }
            Query::Groups => {
                blocking(move || {
                    s.dir_stage_members(
                        &pending.members,
                        &pending.removed_groups,
                        epoch,
                        update.as_ref(),
                        Utc::now(),
                    )
                })
                .await
            }
        }
    }
}

/// Walks one delta query from its stored link (or `start`, as a full resync) to its new delta
/// link, staging as it goes. The one pager of both queries: resume or start over, `410` ->
/// full resync, pages staged in batches, the link written with the last one.
async fn page_through(
    store: &Store,
    dir: &Directory,
    query: &Query,
    name: String,
    scope: String,
    start: String,
    report: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let s = store.clone();
    let n = name.clone();
    let stored = blocking(move || s.dir_link(&n)).await?;
    let (mut link, mut full, mut epoch) = match stored {
        Some(l) if l.scope == scope && dir.delta.is_ours(&l.link) => (l.link, false, l.epoch),
        _ => (start.clone(), true, next_epoch(store).await?),
    };
    let mut pending = Pending::default();
    loop {
        let page = match query.fetch(dir, &link, &mut pending, report).await {
            Ok(p) => p,
            Err(DirectoryError::DeltaExpired) if !full => {
                tracing::warn!(query = %name, "delta link expired: full resync");
                // The full round re-reads everything; unstaged entries of the expired round
                // must not be marked as seen by it.
                pending = Pending::default();
                full = true;
                epoch = next_epoch(store).await?;
                link = start.clone();
                continue;
            }
            Err(e) => return Err(e),
        };
        report.counts.pages += 1;
        report.counts.throttled_waits += u64::from(page.throttled_waits);
        let update = page.delta_link.clone().map(|l| LinkUpdate {
            name: name.clone(),
            link: l,
            scope: scope.clone(),
            epoch,
            sweep: full,
        });
        if update.is_some() || pending.len() >= STAGE_BATCH {
            query
                .stage(store, std::mem::take(&mut pending), epoch, update)
                .await?;
        }
        report.counts.full_resync |= full;
        match (page.next_link, page.delta_link) {
            (Some(next), _) => link = next,
            (None, Some(_)) => return Ok(()),
            (None, None) => {
                return Err(DirectoryError::Unexpected {
                    service: "Graph",
                    detail: format!("a {name} delta page has neither nextLink nor deltaLink"),
                })
            }
        }
    }
}

async fn reconcile(
    store: &Store,
    dir: &Directory,
    tenant: &str,
    report: &mut SyncReport,
) -> Result<(), DirectoryError> {
    let s = store.clone();
    let groups = dir.groups.clone();
    let ambiguous = Arc::new(blocking(move || s.dir_compute_scope(&groups)).await?);
    let mut after = String::new();
    loop {
        let s = store.clone();
        let rules = dir.rules.clone();
        let tenant = tenant.to_string();
        let amb = ambiguous.clone();
        let run_id = report.run_id;
        let from = after.clone();
        let (last, applied) = blocking(move || {
            let candidates = s.dir_candidates(&from, BATCH, &amb)?;
            let Some(last) = candidates.last().map(|c| c.dir.oid.clone()) else {
                return Ok((None, Vec::new()));
            };
            let now = Utc::now();
            let ctx = ApplyContext {
                rules: &rules,
                tenant_id: &tenant,
                now,
            };
            let plans: Vec<_> = candidates
                .into_iter()
                .filter_map(|c| {
                    let p = apply::plan(&c, &ctx);
                    (p != crate::store::Plan::default()).then_some((c, p))
                })
                .collect();
            let applied = if plans.is_empty() {
                Vec::new()
            } else {
                s.apply_directory_batch(run_id, &plans, now)?
            };
            Ok((Some(last), applied))
        })
        .await?;
        for c in &applied {
            report.counts.add_change(&c.change);
            if c.change == "revoked" {
                report.revoked.push(c.oid.clone());
            }
        }
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    let s = store.clone();
    blocking(move || s.dir_confirm_online(Utc::now())).await?;
    Ok(())
}
