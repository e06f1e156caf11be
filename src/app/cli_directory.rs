//! Command-line directory tools:
//! - `directory keygen [--force]`: the app credential's key and self-signed certificate;
//! - `directory sync`: one directory sync now (what the panel does every
//!   `directory.interval_minutes`), with a summary;
//! - `report provisioning [--user UPN] [--since 7d] [--json]`: sync runs and offboarding
//!   checks, newest first, with what changed per user.
//!
//! With `--demo` the sync runs against the simulated tenant (its certificate registered on the
//! fly); the report reads the demo's state directory.

use std::io::Write;
use std::sync::Arc;

use chrono::Utc;

use crate::config::Config;
use crate::directory::credential::default_paths;
use crate::directory::sync::{self, Directory};
use crate::directory::{keygen, DirectoryError};
use crate::store::{ProvisioningQuery, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryCliError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("state directory: {0}")]
    StateDir(#[from] crate::fsmode::FsModeError),
    #[error(transparent)]
    Since(#[from] super::cli_cards::CardsCliError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the simulated cloud did not start: {0}")]
    Sim(String),
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

type Result<T> = std::result::Result<T, DirectoryCliError>;

fn line(out: &mut dyn Write, text: impl std::fmt::Display) -> Result<()> {
    writeln!(out, "{text}").map_err(DirectoryCliError::Output)
}

fn resolved(mut config: Config) -> Result<Config> {
    config.device.state_dir = config.state_dir();
    crate::fsmode::private_dir(&config.device.state_dir)?;
    Ok(config)
}

/// `directory keygen [--force]`.
pub fn keygen_command(config: Config, force: bool, out: &mut dyn Write) -> Result<i32> {
    let config = resolved(config)?;
    let (key, cert) = default_paths(&config);
    let name = format!("mfp-kiosk {}", config.device.name);
    let g = keygen::generate(&key, &cert, &name, force)?;
    line(
        out,
        format!(
            "wrote {} (private key, 0600: stays on this panel)",
            key.display()
        ),
    )?;
    line(
        out,
        format!(
            "wrote {} (certificate, valid until {})",
            cert.display(),
            g.not_after
        ),
    )?;
    line(
        out,
        format!(
            "thumbprint (SHA-1, as the Azure portal lists it): {}",
            g.thumbprint_sha1
        ),
    )?;
    line(out, format!("x5t#S256: {}", g.thumbprint_s256))?;
    line(
        out,
        "next: Entra admin center > App registrations > (the kiosk app) > Certificates & secrets > \
         Certificates > Upload certificate, then set directory.enabled = true",
    )?;
    Ok(0)
}

/// `directory sync`: exit 0 when the run succeeded, 1 when it failed (the report has why).
pub fn sync_command(config: Config, demo: bool, out: &mut dyn Write) -> Result<i32> {
    #[allow(unused_mut)]
    let mut config = resolved(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DirectoryCliError::Runtime)?;
    let report = rt.block_on(async {
        #[cfg(feature = "demo")]
        let _sim = if demo {
            Some(
                super::start_sim(&mut config)
                    .await
                    .map_err(|e| DirectoryCliError::Sim(e.to_string()))?,
            )
        } else {
            None
        };
        #[cfg(not(feature = "demo"))]
        if demo {
            return Err(DirectoryCliError::Sim(
                "this build has no demo support (feature `demo`)".into(),
            ));
        }
        let state = config.device.state_dir.clone();
        let store = Store::open(&state.join("kiosk.sqlite3"))?;
        let key = Arc::new(crate::secrets::DeviceKey::load_or_create(
            &state.join("device.key"),
        )?);
        let dir = Directory::from_config(&config)?;
        if dir.writes_cards() {
            // Asked for now: queued badge write-backs go in this run, not at their backoff.
            store.card_writes_due_now(chrono::Utc::now())?;
        }
        Ok::<_, DirectoryCliError>(sync::run(&store, &key, &dir, "cli").await)
    })?;
    match report {
        Ok(r) => {
            let c = r.counts;
            line(
                out,
                format!(
                    "sync run {} ok{}: {} users and {} memberships read in {} pages; created {}, \
                     updated {}, revoked {}, re-enabled {}, cards added {}, removed {}, \
                     conflicts {}, throttled waits {}, badges written to the directory {}",
                    r.run_id,
                    if c.full_resync { " (full resync)" } else { "" },
                    c.users_seen,
                    c.members_seen,
                    c.pages,
                    c.created,
                    c.updated,
                    c.revoked,
                    c.re_enabled,
                    c.cards_added,
                    c.cards_removed,
                    c.conflicts,
                    c.throttled_waits,
                    c.cards_written
                ),
            )?;
            Ok(0)
        }
        Err(e) => {
            line(out, format!("sync failed: {e}"))?;
            Ok(1)
        }
    }
}

/// Arguments of `report provisioning`.
#[derive(Debug, Clone, Default)]
pub struct ReportArgs {
    pub user: Option<String>,
    pub since: Option<String>,
    pub json: bool,
    pub limit: usize,
}

/// `report provisioning`.
pub fn report_command(config: Config, args: &ReportArgs, out: &mut dyn Write) -> Result<i32> {
    let config = resolved(config)?;
    let store = Store::open(&config.device.state_dir.join("kiosk.sqlite3"))?;
    let since = match &args.since {
        Some(s) => Some(super::cli_cards::parse_since(s, Utc::now())?),
        None => None,
    };
    let runs = store.provisioning_report(&ProvisioningQuery {
        since,
        user: args.user.clone(),
        limit: args.limit.max(1),
    })?;
    if args.json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|(run, changes)| {
                let mut v = serde_json::to_value(run).unwrap_or_default();
                v["changes"] = serde_json::to_value(changes).unwrap_or_default();
                v
            })
            .collect();
        line(
            out,
            serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into()),
        )?;
        return Ok(0);
    }
    if runs.is_empty() {
        line(out, "no provisioning runs recorded")?;
    }
    for (run, changes) in &runs {
        let c = &run.counts;
        let ended = run
            .ended_at
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        line(
            out,
            format!(
                "#{} {} {} {} -> {} {} ({}): created {} updated {} revoked {} re-enabled {} \
                 cards +{} -{} conflicts {} errors {} throttled {}{}",
                run.id,
                run.kind,
                run.source,
                run.started_at.format("%Y-%m-%d %H:%M:%S"),
                ended,
                run.outcome,
                if c.full_resync {
                    "full"
                } else if run.kind == "scim" {
                    "request"
                } else {
                    "delta"
                },
                c.created,
                c.updated,
                c.revoked,
                c.re_enabled,
                c.cards_added,
                c.cards_removed,
                c.conflicts,
                c.errors,
                c.throttled_waits,
                run.error
                    .as_ref()
                    .map(|e| format!("; error: {e}"))
                    .unwrap_or_default()
            ),
        )?;
        for ch in changes {
            line(out, format!("    {} {}: {}", ch.upn, ch.change, ch.detail))?;
        }
    }
    Ok(0)
}
