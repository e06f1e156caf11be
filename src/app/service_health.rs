//! The service menu's Panel health page: what the panel knows locally (version, uptime, free
//! space of the state directory, database size, clock) and, on demand, the doctor's Entra and
//! Graph checks in the same words plus the clock's skew against Entra's `Date` header (tokens
//! are refused when the clock is minutes off).

use std::time::Duration;

use chrono::{DateTime, Local, Utc};

use super::service_ops::info;
use super::services::Services;
use crate::admin::doctor::{self, DoctorOptions, Status};
use crate::admin::storage;
use crate::kiosk::human_bytes;
use crate::service_menu::InfoRow;

/// A clock further off than this breaks token validation (Entra allows 5 minutes).
const SKEW_LIMIT: Duration = Duration::from_secs(120);

/// The rows the page shows at once.
pub fn local_rows(services: &Services) -> Vec<InfoRow> {
    let state = services.state_dir();
    let mut rows = vec![
        info("Version", env!("CARGO_PKG_VERSION"), true),
        info("Uptime", uptime(services.started_at.elapsed()), true),
    ];
    rows.push(match storage::space(state) {
        Ok(space) => info(
            "Free space",
            format!(
                "{} free of {} in {}",
                storage::human(space.available),
                storage::human(space.total),
                state.display()
            ),
            space.available >= storage::LOW_SPACE_BYTES,
        ),
        Err(e) => info("Free space", format!("cannot read: {e}"), false),
    });
    let db = state.join("kiosk.sqlite3");
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|ext| std::fs::metadata(format!("{}{ext}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    rows.push(info("Database", human_bytes(size), true));
    let queued = services.store.list_jobs(1000).map(|jobs| {
        jobs.iter()
            .filter(|j| j.state != crate::store::JobState::Done)
            .count()
    });
    rows.push(match queued {
        Ok(n) => info("Outbox", format!("{n} job(s) not yet delivered"), true),
        Err(e) => info("Outbox", format!("cannot read: {e}"), false),
    });
    rows.push(match services.store.last_provisioning_run() {
        Ok(Some(run)) => {
            let when = run
                .ended_at
                .unwrap_or(run.started_at)
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M");
            let c = &run.counts;
            let mut text = format!(
                "{} {} at {when}: {}; {} created, {} updated, {} revoked",
                run.source, run.kind, run.outcome, c.created, c.updated, c.revoked
            );
            if c.cards_written + c.card_writes_failed + c.card_writes_retried > 0 {
                text.push_str(&format!(
                    "; badges written to the directory: {}, failed {}, to retry {}",
                    c.cards_written, c.card_writes_failed, c.card_writes_retried
                ));
            }
            info("Last directory run", text, run.error.is_none())
        }
        Ok(None) => info("Last directory run", "none yet", true),
        Err(e) => info("Last directory run", format!("cannot read: {e}"), false),
    });
    if services.config.scim.enabled {
        rows.push(scim_row(services));
    }
    rows.push(info(
        "Clock",
        Local::now().format("%Y-%m-%d %H:%M:%S %Z").to_string(),
        true,
    ));
    rows
}

/// SCIM activity: what Entra provisioned, its last request and the refusals of the last day.
fn scim_row(services: &Services) -> InfoRow {
    match services
        .store
        .scim_activity(Utc::now() - chrono::Duration::hours(24))
    {
        Ok(a) => {
            let last = a
                .last_request_at
                .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_else(|| "none yet".into());
            info(
                "SCIM",
                format!(
                    "{} users ({} active), {} groups; last request {last}; {} requests, {} refused in 24 h",
                    a.users, a.active_users, a.groups, a.requests_24h, a.refused_24h
                ),
                a.refused_24h == 0,
            )
        }
        Err(e) => info("SCIM", format!("cannot read: {e}"), false),
    }
}

/// The local rows, then the network checks.
pub async fn checked_rows(services: &Services) -> Vec<InfoRow> {
    let mut rows = local_rows(services);
    rows.push(clock_skew(services).await);
    let mut sink = std::io::sink();
    let report = doctor::diagnose(
        &services.config,
        DoctorOptions { sign_in: false },
        &mut sink,
    )
    .await;
    for f in report.findings {
        rows.push(info(
            f.check.label(),
            f.message,
            matches!(f.status, Status::Ok | Status::Warning),
        ));
    }
    rows
}

/// The panel's clock against the `Date` header of Entra's discovery document.
async fn clock_skew(services: &Services) -> InfoRow {
    let c = &services.config.entra;
    let url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        c.authority_host.trim_end_matches('/'),
        c.tenant
    );
    let answer = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map(|client| client.get(url).send());
    let response = match answer {
        Ok(request) => request.await,
        Err(e) => return info("Clock skew", format!("cannot check: {e}"), false),
    };
    let date = response.ok().and_then(|r| {
        r.headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc))
    });
    match date {
        Some(server) => skew_row(Utc::now() - server),
        None => info("Clock skew", "Entra could not be asked for the time", false),
    }
}

fn skew_row(skew: chrono::Duration) -> InfoRow {
    let secs = skew.num_seconds();
    let ok = secs.unsigned_abs() <= SKEW_LIMIT.as_secs();
    let text = match secs {
        0 => "in step with Entra".to_string(),
        s if s > 0 => format!("{s} s ahead of Entra"),
        s => format!("{} s behind Entra", -s),
    };
    let text = if ok {
        text
    } else {
        format!("{text}: sign-ins will fail; fix the time (NTP)")
    };
    info("Clock skew", text, ok)
}

fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 86_400, (s / 3600) % 24, (s / 60) % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (days, h, _) => format!("{days} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_uptime_read_plainly() {
        assert!(skew_row(chrono::Duration::seconds(3)).ok);
        let off = skew_row(chrono::Duration::seconds(-400));
        assert!(!off.ok);
        assert!(
            off.value.contains("400 s behind") && off.value.contains("NTP"),
            "{}",
            off.value
        );
        assert_eq!(uptime(Duration::from_secs(59)), "0 min");
        assert_eq!(uptime(Duration::from_secs(3 * 3600 + 120)), "3 h 2 min");
        assert_eq!(uptime(Duration::from_secs(2 * 86_400 + 7200)), "2 d 2 h");
    }
}
